"""VGG19 feature extractor for the optional perceptual loss (weights from a user's file).

Layer names follow torchvision's `vgg19().features`, so its state dict (or the original
FOMM's) loads directly. Nothing is downloaded: without a weights file this is not used.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from fomm.errors import InputError
from fomm.model.checkpoint import load_weights_file

# Conv widths of VGG19's 16 conv layers, "M" = 2x2 max pool.
_LAYOUT = [
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    512,
]
# Outputs taken after relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (indices into `features`).
_TAPS = (1, 6, 11, 20, 29)


class Vgg19Features(nn.Module):
    """(B,3,H,W) in [0,1] -> five feature maps, ImageNet-normalised input."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=False)]
                channels = int(item)
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.requires_grad_(False)

    def forward(self, frames: torch.Tensor) -> list[torch.Tensor]:
        out = (frames - self.mean) / self.std
        taps = []
        for index, layer in enumerate(self.features):
            out = layer(out)
            if index in _TAPS:
                taps.append(out)
            if index == _TAPS[-1]:
                break
        return taps

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Vgg19Features:
        """Load torchvision-style VGG19 weights (keys `features.N.*`, optional `classifier.*`)."""
        network = cls()
        state = load_weights_file(path, "VGG19 weights")
        if not isinstance(state, dict):
            raise InputError(path, "not a VGG19 state dict")
        features = {k: v for k, v in state.items() if str(k).startswith("features.")}
        try:
            network.load_state_dict({**features, "mean": network.mean, "std": network.std})
        except RuntimeError as error:
            first = str(error).splitlines()[0]
            raise InputError(path, f"does not fit VGG19 ({first})") from None
        return network.eval()
