"""Network shapes, keys, keypoint transfer and frame-size rules on tiny configurations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fomm.model.checkpoint import build_networks
from fomm.model.generator import Generator
from fomm.model.kinematics import (
    adapt_movement_scale,
    apply_2x2,
    convex_hull_area,
    normalize_kp,
)


def run_networks(config, batch=2, seed=0):
    torch.manual_seed(seed)
    kp_detector, generator = build_networks(config)
    kp_detector.eval()
    generator.eval()
    height, width = config.frame_shape
    source = torch.rand(batch, 3, height, width)
    driving = torch.rand(batch, 3, height, width)
    with torch.no_grad():
        kp_source = kp_detector(source)
        kp_driving = kp_detector(driving)
        out = generator(source, kp_source, kp_driving)
    return kp_source, out


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"estimate_jacobian": False},
        {"single_jacobian_map": True, "pad": 3},
        {"occlusion": False, "kp_scale": 1, "dm_scale": 1},
        {"num_down_blocks": 3},
        {"frame_shape": (32, 48)},
    ],
)
def test_output_shapes_and_keys(make_tiny_config, options):
    config = make_tiny_config(**options)
    kp, out = run_networks(config)
    height, width = config.frame_shape
    k = config.num_kp
    assert kp["value"].shape == (2, k, 2)
    assert ("jacobian" in kp) == config.estimate_jacobian
    if config.estimate_jacobian:
        assert kp["jacobian"].shape == (2, k, 2, 2)
    assert kp["value"].abs().max() <= 1
    h, w = (
        int(height * config.generator.dense_motion.scale_factor),
        int(width * config.generator.dense_motion.scale_factor),
    )
    expected = {"mask", "sparse_deformed", "deformed", "prediction", "deformation"}
    if config.generator.estimate_occlusion_map:
        expected.add("occlusion_map")
        assert out["occlusion_map"].shape == (2, 1, h, w)
    assert set(out) == expected
    assert out["mask"].shape == (2, k + 1, h, w)
    torch.testing.assert_close(out["mask"].sum(1), torch.ones(2, h, w))
    assert out["sparse_deformed"].shape == (2, k + 1, 3, h, w)
    assert out["deformation"].shape == (2, h, w, 2)
    assert out["deformed"].shape == (2, 3, height, width)
    assert out["prediction"].shape == (2, 3, height, width)
    assert 0 <= out["prediction"].min() and out["prediction"].max() <= 1


def test_deterministic(make_tiny_config):
    config = make_tiny_config()
    _, first = run_networks(config, seed=3)
    _, second = run_networks(config, seed=3)
    assert torch.equal(first["prediction"], second["prediction"])


def test_fresh_detector_has_identity_jacobians(make_tiny_config):
    kp, _ = run_networks(make_tiny_config())
    torch.testing.assert_close(kp["jacobian"], torch.eye(2).expand(2, 4, 2, 2))


def test_source_features_once_match_full_call(make_tiny_config):
    """A batch-1 source with precomputed features gives the per-frame results."""
    config = make_tiny_config()
    kp_detector, generator = build_networks(config)
    kp_detector.eval()
    generator.eval()
    source = torch.rand(1, 3, 32, 32)
    driving = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        kp_source = kp_detector(source)
        kp_driving = kp_detector(driving)
        features = generator.encode_source(source)
        batched = generator(source, kp_source, kp_driving, features, full_output=False)
        for i in range(3):
            single = generator(source, kp_source, {k: v[i : i + 1] for k, v in kp_driving.items()})
            torch.testing.assert_close(batched["prediction"][i], single["prediction"][0])
    assert "deformed" not in batched


def test_frame_size_rule(shared_dir):
    import yaml

    from fomm.config import ModelConfig

    config = ModelConfig.from_fomm_yaml(
        yaml.safe_load((shared_dir / "conformance/public/modules-tiny/config.yaml").read_text())
    )
    for height, width in [(64, 64), (64, 96), (96, 64)]:
        assert config.frame_size_problem(height, width) is None
    for height, width in [(96, 80), (80, 96), (90, 70)]:
        problem = config.frame_size_problem(height, width)
        assert problem is not None and f"{height}x{width}" in problem


def test_yaml_round_trip(shared_dir):
    import yaml

    from fomm.config import ModelConfig

    for case in ["modules-tiny", "modules-single-jacobian-pad", "modules-no-occlusion-scale1"]:
        document = yaml.safe_load(
            (shared_dir / "conformance/public" / case / "config.yaml").read_text()
        )
        config = ModelConfig.from_fomm_yaml(document)
        assert ModelConfig.from_fomm_yaml(config.to_fomm_yaml()) == config
    assert config.kp_detector.scale_factor == 1 and not config.generator.estimate_occlusion_map


def kp_set(values, jacobians=None):
    kp = {"value": torch.tensor(values, dtype=torch.float32)}
    if jacobians is not None:
        kp["jacobian"] = torch.tensor(jacobians, dtype=torch.float32)
    return kp


def test_relative_without_jacobians_moves_values_only():
    source = kp_set([[[0.0, 0.0], [0.5, 0.5], [-0.5, 0.5]]])
    initial = kp_set([[[0.1, 0.1], [0.6, 0.6], [-0.4, 0.6]]])
    driving = kp_set([[[0.2, 0.1], [0.7, 0.6], [-0.3, 0.6]], [[0.1, 0.3], [0.6, 0.8], [-0.4, 0.8]]])
    moved = normalize_kp(source, driving, initial, relative=True)
    assert set(moved) == {"value"}
    expected = source["value"].numpy() + (driving["value"].numpy() - initial["value"].numpy())
    np.testing.assert_allclose(moved["value"].numpy(), expected, atol=1e-6)
    absolute = normalize_kp(source, driving, initial, relative=False)
    assert torch.equal(absolute["value"], driving["value"])


def test_relative_jacobian_and_adapt_scale():
    rng = np.random.default_rng(0)
    values = rng.uniform(-0.5, 0.5, (3, 1, 4, 2))
    jac = np.eye(2) + 0.1 * rng.standard_normal((3, 1, 4, 2, 2))
    source, initial, driving = (kp_set(values[i], jac[i]) for i in range(3))
    moved = normalize_kp(source, driving, initial, relative=True, adapt_scale=True)
    scale = np.sqrt(convex_hull_area(values[0, 0])) / np.sqrt(convex_hull_area(values[1, 0]))
    assert adapt_movement_scale(source, initial) == pytest.approx(scale)
    np.testing.assert_allclose(
        moved["value"].numpy(), values[0] + (values[2] - values[1]) * scale, atol=1e-6
    )
    expected_jac = jac[2] @ np.linalg.inv(jac[1]) @ jac[0]
    np.testing.assert_allclose(moved["jacobian"].numpy(), expected_jac, atol=1e-5)


def test_keypoint_geometry_stays_float32_under_half_precision_autocast(make_tiny_config):
    # Under fp16/bf16 autocast a matrix product gives half precision; fed to torch.inverse
    # (no CUDA half kernel) it failed on the GPU. The jacobian arithmetic must stay float32.
    rng = np.random.default_rng(1)
    values = rng.uniform(-0.5, 0.5, (3, 2, 4, 2))
    jac = np.eye(2) + 0.1 * rng.standard_normal((3, 2, 4, 2, 2))
    source, initial, driving = (kp_set(values[i], jac[i]) for i in range(3))
    exact = normalize_kp(source, driving, initial, relative=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        moved = normalize_kp(source, driving, initial, relative=True)
        _, generator = build_networks(make_tiny_config(num_kp=4))
        grid = torch.zeros(8, 8, 2)
        motions = generator.dense_motion_network.sparse_motions(grid, source, moved)
    assert moved["jacobian"].dtype == torch.float32
    torch.testing.assert_close(moved["jacobian"], exact["jacobian"])
    assert motions.dtype == torch.float32


def test_convex_hull_area():
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5], [0.2, 0.7]])
    assert convex_hull_area(square) == pytest.approx(1.0)
    triangle = np.array([[0, 0], [2, 0], [0, 2], [1, 0]])
    assert convex_hull_area(triangle) == pytest.approx(2.0)
    assert convex_hull_area(np.array([[0, 0], [1, 1], [2, 2]])) == 0.0


def test_trains_with_gradients(make_tiny_config):
    """Training mode: the loss reaches every learnable tensor and running stats update."""
    config = make_tiny_config()
    kp_detector, generator = build_networks(config)
    kp_detector.train()
    generator.train()
    source, driving = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    before = generator.first.norm.running_mean.clone()
    out = generator(source, kp_detector(source), kp_detector(driving))
    (out["prediction"] - driving).abs().mean().backward()
    missing = [
        name
        for module in (kp_detector, generator)
        for name, parameter in module.named_parameters()
        if parameter.grad is None
    ]
    assert missing == []
    assert not torch.equal(before, generator.first.norm.running_mean)


@pytest.mark.parametrize("num_down_blocks", [0, 2])
def test_corner_aligned_networks_copy_pixels_under_an_identity_motion(
    make_tiny_config, num_down_blocks
):
    # Driving keypoints = source keypoints: every sparse motion is the identity, so the
    # deformation (dense motion at 1/2 resolution, enlarged) is the identity grid.
    config = make_tiny_config(num_down_blocks=num_down_blocks, dm_scale=0.5)
    torch.manual_seed(0)
    kp_detector, reference = build_networks(config)
    aligned = Generator(config.generator, align_corners=True, upsample_align_corners=True)
    aligned.load_state_dict(reference.state_dict())
    source = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        kp = kp_detector.eval()(source)
        copied = aligned.eval()(source, kp, kp, full_output=True)["deformed"]
        blurred = reference.eval()(source, kp, kp, full_output=True)["deformed"]
    torch.testing.assert_close(copied, source, atol=1e-5, rtol=0)
    # the reference's grid_sample and upsampling do not read the grid at pixel centres
    assert (blurred - source).abs().mean() > 1e-2


def test_apply_2x2_is_a_broadcast_matrix_vector_product():
    generator = torch.Generator().manual_seed(3)
    matrices = torch.randn(2, 5, 1, 1, 2, 2, generator=generator, dtype=torch.float64)
    vectors = torch.randn(2, 5, 4, 6, 2, generator=generator, dtype=torch.float64)
    expected = torch.matmul(matrices.expand(-1, -1, 4, 6, -1, -1), vectors.unsqueeze(-1))
    assert torch.allclose(apply_2x2(matrices, vectors), expected.squeeze(-1), atol=1e-12)
