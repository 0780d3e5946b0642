"""The generator's inference rewrite (fomm.model.fused, fomm.model.winograd) computes the same
function."""

from __future__ import annotations

import copy

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
    folded_conv,
    fuse_for_inference,
    inference_keypoint_detector,
    phase_form_weight,
    subpixel_weight,
)
from fomm.model.kinematics import normalize_kp
from fomm.model.packed import ONEDNN_AVAILABLE, InferenceConv
from fomm.model.winograd import (
    WinogradBottleneck,
    WinogradConv3x3,
    bordered_empty,
    interior,
    winograd_weight,
)


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
    # off the CPU the copy goes channels-last; the weights it shares with the original
    # generator must not change layout there
    assert fused.final.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(parameter.is_contiguous() for parameter in generator.parameters())
    assert any("up_blocks" in name for name in tensors)
    # Winograd's weights are made for CPU generators only (cuDNN has its own algorithms)
    assert not isinstance(fused.bottleneck, WinogradBottleneck)
    _, on_cpu = build_networks(make_tiny_config())
    assert isinstance(fuse_for_inference(on_cpu.eval()).bottleneck, WinogradBottleneck)


@pytest.mark.parametrize("precision", ["fp32", pytest.param("bf16", marks=pytest.mark.bf16_cpu)])
@torch.no_grad()
def test_inference_keypoint_detector_gives_the_same_keypoints(make_tiny_config, precision):
    torch.manual_seed(0)
    kp_detector, _ = build_networks(make_tiny_config())
    randomise_batchnorm(kp_detector, 6)
    kp_detector.eval()
    frames = torch.rand(3, 3, 32, 32)
    if precision == "bf16":  # as the engine runs it: channels-last frames under autocast
        frames = frames.contiguous(memory_format=torch.channels_last)
    inference_copy = inference_keypoint_detector(kp_detector)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        expected, got = kp_detector(frames), inference_copy(frames)
    assert not any(isinstance(m, torch.nn.Conv2d) for m in inference_copy.modules())
    assert any(isinstance(m, torch.nn.Conv2d) for m in kp_detector.modules())
    for name in expected:
        assert torch.equal(got[name], expected[name])


def test_fusing_leaves_the_original_networks_alone(make_tiny_config):
    kp_detector, generator = build_networks(make_tiny_config())
    before = {name: value.clone() for name, value in generator.state_dict().items()}
    fused = fuse_for_inference(generator.eval())
    inference_copy = inference_keypoint_detector(kp_detector.eval())
    assert type(generator.up_blocks[0]) is UpBlock
    after = generator.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)
    for network in (generator, kp_detector):
        assert all(parameter.requires_grad for parameter in network.parameters())
    # weights the rewrite keeps as they are are shared, not copied
    assert fused.final.weight.data_ptr() == generator.final.weight.data_ptr()
    copied = {p.data_ptr() for p in inference_copy.parameters()}
    assert copied == {p.data_ptr() for p in kp_detector.parameters()}


@pytest.mark.parametrize(
    "rewrite",
    ["folded_conv", "subpixel_weight", "winograd_weight"],
)
def test_weight_rewrites_round_once_when_exact_and_stay_close_otherwise(rewrite):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(24, 16, 3, padding=1)
    norm = torch.nn.BatchNorm2d(16).eval()
    randomise_batchnorm(norm, 7)
    make = {
        "folded_conv": lambda module, exact: folded_conv(module, norm, exact).weight,
        "subpixel_weight": lambda module, exact: subpixel_weight(module.weight.detach(), exact),
        "winograd_weight": lambda module, exact: winograd_weight(module.weight.detach(), exact),
    }[rewrite]
    with torch.no_grad():
        norm.double()  # (folded_conv: the norm's statistics in float64 too)
        in_float64 = make(copy.deepcopy(conv).double(), True)
        norm.float()
        exact, fast = make(conv, True), make(conv, False)
    assert exact.dtype == fast.dtype == torch.float32
    assert torch.equal(exact, in_float64.float())
    torch.testing.assert_close(fast, exact, rtol=1e-6, atol=1e-7)


@torch.no_grad()
def test_inexact_fusing_gives_the_same_frames_within_float32_rounding(make_tiny_config):
    config = make_tiny_config()
    torch.manual_seed(0)
    kp_detector, generator = build_networks(config)
    randomise_batchnorm(generator, 4)
    generator.eval()
    source, driving = torch.rand(1, 3, *config.frame_shape), torch.rand(2, 3, *config.frame_shape)
    kp_source, kp_driving = kp_detector.eval()(source), kp_detector(driving)
    frames = [
        network(source, kp_source, kp_driving, full_output=False)["prediction"]
        for network in (generator, fuse_for_inference(generator, exact=False))
    ]
    torch.testing.assert_close(frames[1], frames[0], rtol=0, atol=1e-5)


# Winograd F(2x2, 3x3) residual blocks (fomm.model.winograd)


def nhwc_bordered(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> the (N, H+2, W+2, C) zero-bordered buffer the Winograd convolution reads."""
    batch, channels, height, width = x.shape
    bordered = bordered_empty(batch, height, width, channels, x.dtype, x.device)
    interior(bordered).copy_(x.permute(0, 2, 3, 1))
    return bordered


@pytest.mark.parametrize("size", [(2, 2), (6, 10), (12, 8)])
@torch.no_grad()
def test_winograd_convolution_is_the_3x3_convolution_in_float64(size):
    # In float64 only the summation order differs, so any wrong tap, sign or bias shows.
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(5, 3, 3, 3, generator=generator, dtype=torch.float64)
    bias = torch.randn(5, generator=generator, dtype=torch.float64)
    x = torch.randn(2, 3, *size, generator=generator, dtype=torch.float64)
    expected = F.conv2d(x, weight, bias, padding=1).permute(0, 2, 3, 1)

    conv = WinogradConv3x3(InferenceConv(weight, bias, padding=1))
    out = torch.empty_like(expected)
    conv(nhwc_bordered(x), out)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)

    added = torch.ones_like(expected)
    conv(nhwc_bordered(x), added, accumulate=True)
    torch.testing.assert_close(added, expected + 1, rtol=0, atol=1e-12)


def test_winograd_weight_is_g_w_gt_and_takes_3x3_kernels_only():
    weight = torch.zeros(1, 1, 3, 3)
    weight[0, 0, 1, 1] = 1.0  # the identity kernel: G w G^T = outer(G[:, 1], G[:, 1])
    transformed = winograd_weight(weight).view(4, 4)
    column = torch.tensor([0.0, 0.5, -0.5, 0.0])
    torch.testing.assert_close(transformed, torch.outer(column, column), rtol=0, atol=0)
    with pytest.raises(ValueError, match="3x3"):
        winograd_weight(torch.zeros(1, 1, 5, 5))


def residual_stack(channels: int, blocks: int, seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    stack = torch.nn.Sequential(*(ResBlock(channels) for _ in range(blocks))).eval()
    randomise_batchnorm(stack, seed + 1)
    return stack


def folded(stack: torch.nn.Sequential) -> torch.nn.Sequential:
    return torch.nn.Sequential(*(FoldedResBlock(block) for block in stack))


needs_onednn = pytest.mark.skipif(not ONEDNN_AVAILABLE, reason="oneDNN is not available")


@needs_onednn
@torch.no_grad()
def test_bottleneck_in_float32_is_as_close_to_float64_as_the_direct_convolutions():
    stack = residual_stack(32, 3, seed=0)
    x = torch.randn(2, 32, 16, 20)
    reference = folded(copy.deepcopy(stack)).double()(x.double())
    direct = folded(stack)(x)
    kept = x.clone()
    winograd = WinogradBottleneck(folded(stack))
    got = winograd(x)

    assert torch.equal(x, kept)  # the input is not overwritten
    assert got.shape == x.shape and got.dtype == torch.float32
    direct_error = (direct.double() - reference).abs().max().item()
    winograd_error = (got.double() - reference).abs().max().item()
    scale = reference.abs().max().item()
    assert winograd_error < 4 * direct_error + 1e-7 * scale
    assert winograd_error < 1e-6 * scale


@needs_onednn
@pytest.mark.bf16_cpu
@torch.no_grad()
def test_bottleneck_under_bf16_autocast_stays_near_float32():
    stack = residual_stack(32, 2, seed=3)
    x = torch.randn(2, 32, 16, 16)
    expected = folded(stack)(x)
    winograd = WinogradBottleneck(folded(stack))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = winograd(x)
        direct = folded(stack)(x)
    assert got.dtype == torch.float32
    scale = expected.abs().max()
    winograd_error = (got - expected).abs().max()
    direct_error = (direct.float() - expected).abs().max()
    assert winograd_error < 3 * direct_error
    assert winograd_error < 2e-2 * scale


@pytest.mark.parametrize(
    "case", ["odd height", "odd width", "gradients", "float64", "fp16 autocast"]
)
def test_bottleneck_runs_the_blocks_as_written_where_winograd_does_not_apply(case):
    stack = folded(residual_stack(8, 2, seed=5))
    winograd = WinogradBottleneck(stack)
    size = {"odd height": (7, 8), "odd width": (8, 9)}.get(case, (8, 8))
    x = torch.randn(1, 8, *size, dtype=torch.float64 if case == "float64" else torch.float32)
    if case == "float64":
        stack.double()
        winograd.double()
    with torch.set_grad_enabled(case == "gradients"):
        if case == "fp16 autocast":
            with torch.autocast("cpu", dtype=torch.float16):
                assert not winograd.applies(x)
                return
        assert not winograd.applies(x)
        assert torch.equal(winograd(x), stack(x))
