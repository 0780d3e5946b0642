"""InferenceConv: oneDNN-reordered weights give F.conv2d's values bit for bit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fomm.model import packed
from fomm.model.packed import InferenceConv, reorder_convolutions

needs_onednn = pytest.mark.skipif(not packed.ONEDNN_AVAILABLE, reason="needs oneDNN (mkldnn)")

# (in, out, kernel, padding, input H, W): 3x3 and 2x2 blocks, a 7x7 head, a deep 2x2 input
SHAPES = [(8, 16, 3, 1, 12, 10), (16, 24, 2, 1, 9, 9), (12, 5, 7, 3, 16, 16), (32, 32, 3, 1, 2, 2)]


def channels_last(*shape: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator).contiguous(memory_format=torch.channels_last)


@needs_onednn
@pytest.mark.parametrize("shape", SHAPES)
@torch.inference_mode()
def test_reordered_convolution_equals_conv2d_relu_and_add(shape, monkeypatch):
    calls = []
    real = torch.ops.mkldnn._convolution_pointwise
    monkeypatch.setattr(
        torch.ops.mkldnn, "_convolution_pointwise", _Recorder(real, calls), raising=False
    )
    in_channels, out_channels, kernel, padding, height, width = shape
    conv = torch.nn.Conv2d(in_channels, out_channels, kernel, padding=padding)
    fast = InferenceConv.from_conv(conv)
    for batch in (3, 2):  # reordered for the first shape, used for the next
        x = channels_last(batch, in_channels, height, width, seed=batch)
        expected = F.conv2d(x, conv.weight, conv.bias, padding=padding)
        assert torch.equal(fast(x), expected)
        assert torch.equal(fast(x, relu=True), F.relu(expected))
        other = channels_last(*expected.shape, seed=7)
        assert torch.equal(fast(x, add=other), expected + other)
    assert calls.count("default") == 4 and calls.count("binary") == 2
    # a single frame: PyTorch picks another kernel for batch 1, so only rounding may differ
    x = channels_last(1, in_channels, height, width, seed=1)
    expected = F.conv2d(x, conv.weight, conv.bias, padding=padding)
    torch.testing.assert_close(fast(x), expected, rtol=1e-5, atol=1e-5)


class _Recorder:
    """Counts calls to the oneDNN op (and its .binary overload) while running it."""

    def __init__(self, op, calls: list):
        self.op, self.calls = op, calls

    def __call__(self, *args):
        self.calls.append("default")
        return self.op(*args)

    def binary(self, *args):
        self.calls.append("binary")
        return self.op.binary(*args)


@torch.inference_mode()
def test_other_inputs_run_conv2d():
    conv = torch.nn.Conv2d(4, 6, 3, padding=1)
    fast = InferenceConv.from_conv(conv)
    contiguous = torch.randn(2, 4, 8, 8)
    expected = F.conv2d(contiguous, conv.weight, conv.bias, padding=1)
    assert torch.equal(fast(contiguous), expected)
    assert fast(contiguous).is_contiguous()
    as_double = fast(contiguous.double())
    assert as_double.dtype == torch.float64
    torch.testing.assert_close(as_double.float(), expected, rtol=1e-5, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert fast(contiguous).dtype == torch.bfloat16
    assert fast._packed == {}  # none of these reordered anything


@needs_onednn
@pytest.mark.bf16_cpu
@pytest.mark.parametrize("shape", SHAPES)
@torch.inference_mode()
def test_under_bf16_autocast_it_gives_autocasts_values(shape):
    in_channels, out_channels, kernel, padding, height, width = shape
    conv = torch.nn.Conv2d(in_channels, out_channels, kernel, padding=padding)
    fast = InferenceConv.from_conv(conv)
    x = channels_last(3, in_channels, height, width, seed=3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = F.conv2d(x, conv.weight, conv.bias, padding=padding)
        other = channels_last(*expected.shape, seed=4)
        got, with_relu, with_add = fast(x), fast(x, relu=True), fast(x, add=other)
        with_bf16_add = fast(x, add=other.bfloat16())
    assert list(fast._packed) == [torch.bfloat16]
    assert got.dtype == torch.bfloat16 and torch.equal(got, expected)
    assert torch.equal(with_relu, F.relu(expected))
    # autocast leaves the addition alone: bf16 + float32 is a float32 sum
    assert with_add.dtype == torch.float32 and torch.equal(with_add, expected + other)
    assert torch.equal(with_bf16_add, expected + other.bfloat16())


def test_with_gradients_it_is_a_plain_convolution():
    conv = torch.nn.Conv2d(3, 5, 3, padding=1)
    fast = InferenceConv.from_conv(conv)
    x = torch.randn(2, 3, 6, 6).contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast(x), conv(x), rtol=0, atol=0)
    assert fast._packed == {}  # with gradients on, nothing was reordered


def test_reorder_convolutions_replaces_every_conv2d():
    network = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
    )
    reorder_convolutions(network)
    kinds = [type(module) for module in network.modules()]
    assert torch.nn.Conv2d not in kinds
    assert kinds.count(InferenceConv) == 2


def test_reflect_padding_is_refused():
    with pytest.raises(ValueError, match="zero padding"):
        InferenceConv.from_conv(torch.nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"))
