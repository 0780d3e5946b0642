"""The generator's inference rewrite (fomm.model.fused) computes the same function."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fomm.model.blocks import DownBlock, ResBlock, UpBlock
from fomm.model.checkpoint import build_networks
from fomm.model.fused import (
    PLAIN_UPSAMPLE_MAX_PIXELS,
    FoldedDownBlock,
    FoldedResBlock,
    SubpixelUpBlock,
    fuse_for_inference,
    phase_form_weight,
)
from fomm.model.kinematics import normalize_kp


def randomise_batchnorm(module: torch.nn.Module, seed: int) -> None:
    """Non-trivial running statistics and affine parameters, so folding has work to do."""
    generator = torch.Generator().manual_seed(seed)
    for norm in module.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            size = norm.num_features
            norm.running_mean.copy_(torch.randn(size, generator=generator) * 0.3)
            norm.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            norm.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
            norm.bias.data.copy_(torch.randn(size, generator=generator) * 0.2)


# input sizes on both sides of the plain-form threshold (small inputs skip the sub-pixel form)
UP_BLOCK_SIZES = [(2, 2), (4, 4), (5, 5), (6, 7)]


def test_up_block_sizes_cover_both_forms():
    pixels = [height * width for height, width in UP_BLOCK_SIZES]
    assert min(pixels) <= PLAIN_UPSAMPLE_MAX_PIXELS < max(pixels)


@pytest.mark.parametrize("size", UP_BLOCK_SIZES)
@torch.no_grad()
def test_subpixel_up_block_equals_upsample_then_conv(size):
    torch.manual_seed(0)
    block = UpBlock(5, 3).eval()
    randomise_batchnorm(block, 1)
    x = torch.randn(2, 5, *size)
    expected = block(x)
    got = SubpixelUpBlock(block)(x)
    assert got.shape == expected.shape == (2, 3, 2 * size[0], 2 * size[1])
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("size", UP_BLOCK_SIZES)
@torch.no_grad()
def test_subpixel_up_block_writes_its_skip_after_it(size):
    torch.manual_seed(0)
    block = UpBlock(4, 3).eval()
    randomise_batchnorm(block, 2)
    x, skip = torch.randn(1, 4, *size), torch.randn(1, 2, 2 * size[0], 2 * size[1])
    expected = torch.cat([block(x), skip], dim=1)
    torch.testing.assert_close(SubpixelUpBlock(block)(x, extra=skip), expected, rtol=0, atol=1e-5)


@torch.no_grad()
def test_folded_down_block_equals_conv_norm_relu_pool():
    torch.manual_seed(0)
    block = DownBlock(5, 6).eval()
    randomise_batchnorm(block, 3)
    x = torch.randn(2, 5, 8, 10)
    expected = block(x)
    got = FoldedDownBlock(block)(x)
    assert got.shape == expected.shape == (2, 6, 4, 5)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


@torch.no_grad()
def test_folded_res_block_equals_the_residual_block():
    torch.manual_seed(0)
    block = ResBlock(6).eval()
    randomise_batchnorm(block, 5)
    x = torch.randn(2, 6, 7, 9)
    expected = block(x)
    kept = x.clone()
    got = FoldedResBlock(block)(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert torch.equal(x, kept)  # the residual input is not overwritten


@torch.no_grad()
def test_phase_form_weight_is_the_7x7_convolution_on_the_phases():
    torch.manual_seed(0)
    image = torch.randn(2, 4, 10, 12)
    weight = torch.randn(3, 4, 7, 7)
    expected = F.conv2d(image, weight, padding=3)
    # phases (a, b) of the image, stacked as channels, padded by 2
    phases = torch.cat([image[:, :, a::2, b::2] for a, b in ((0, 0), (0, 1), (1, 0), (1, 1))], 1)
    out = F.conv2d(F.pad(phases, (2, 2, 2, 2)), phase_form_weight(weight))
    height, width = image.shape[2] // 2, image.shape[3] // 2
    for index, (a, b) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        part = out[:, 3 * index : 3 * index + 3, a : a + height, b : b + width]
        torch.testing.assert_close(part, expected[:, :, a::2, b::2], rtol=0, atol=1e-4)


def test_phase_form_refuses_other_kernel_sizes():
    with pytest.raises(ValueError, match="7x7"):
        phase_form_weight(torch.zeros(3, 4, 5, 5))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"estimate_jacobian": False},
        {"single_jacobian_map": True, "pad": 3},
        {"occlusion": False, "kp_scale": 1, "dm_scale": 1},
        {"num_down_blocks": 0},
        {"num_down_blocks": 1, "kp_blocks": 3, "dm_blocks": 3},
        {"num_down_blocks": 3},
        {"frame_shape": (32, 48)},
    ],
)
@torch.no_grad()
def test_fused_generator_gives_the_same_frames(make_tiny_config, options):
    config = make_tiny_config(**options)
    torch.manual_seed(0)
    kp_detector, generator = build_networks(config)
    randomise_batchnorm(generator, 4)
    kp_detector.eval()
    generator.eval()
    fused_generator = fuse_for_inference(generator)
    height, width = config.frame_shape
    source, driving = torch.rand(1, 3, height, width), torch.rand(3, 3, height, width)

    def animate(network):
        kp_source, kp_driving = kp_detector(source), kp_detector(driving)
        kp_initial = {name: value[:1] for name, value in kp_driving.items()}
        kp_norm = normalize_kp(kp_source, kp_driving, kp_initial, relative=True, adapt_scale=True)
        features = network.encode_source(source)
        out = network(source, kp_source, kp_norm, features, full_output=False)
        return out

    expected, got = animate(generator), animate(fused_generator)
    for name in ("prediction", "mask", "occlusion_map", "deformation"):
        if name in expected:
            torch.testing.assert_close(got[name], expected[name], rtol=0, atol=1e-5)


def test_fused_weights_stay_on_the_generators_device(make_tiny_config):
    # The meta device stands in for CUDA: a fused weight built on the CPU would show here.
    _, generator = build_networks(make_tiny_config())
    fused = fuse_for_inference(generator.eval().to("meta"))
    tensors = {**dict(fused.named_parameters()), **dict(fused.named_buffers())}
    misplaced = [name for name, value in tensors.items() if value.device.type != "meta"]
    assert misplaced == []
    assert any("up_blocks" in name for name in tensors)


def test_fusing_leaves_the_original_networks_alone(make_tiny_config):
    _, generator = build_networks(make_tiny_config())
    before = {name: value.clone() for name, value in generator.state_dict().items()}
    fuse_for_inference(generator.eval())
    assert type(generator.up_blocks[0]) is UpBlock
    after = generator.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)
