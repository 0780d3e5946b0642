"""The in-memory engine against a straightforward per-frame loop over the same networks."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch

from fomm.engine import precision as engine_precision
from fomm.engine.animate import AnimationOptions, Animator, animate_arrays
from fomm.errors import FommError
from fomm.model.kinematics import normalize_kp


def reference_loop(model, source, driving, relative, adapt_scale, initial_index=0):
    """Per frame, batch 1, everything recomputed, as the original demo's loop does."""
    to_tensor = lambda frame: torch.from_numpy(frame).permute(2, 0, 1)[None].float()
    out = []
    with torch.no_grad():
        src = to_tensor(source)
        kp_source = model.kp_detector(src)
        kp_initial = model.kp_detector(to_tensor(driving[initial_index]))
        for frame in driving:
            kp_driving = model.kp_detector(to_tensor(frame))
            kp_norm = normalize_kp(kp_source, kp_driving, kp_initial, relative, adapt_scale)
            prediction = model.generator(src, kp_source, kp_norm)["prediction"]
            out.append(prediction[0].permute(1, 2, 0).numpy())
    return np.stack(out)


@pytest.fixture(scope="module")
def clip():
    rng = np.random.default_rng(5)
    base = rng.uniform(0, 1, (64, 64, 3)).astype(np.float32)
    driving = np.stack([np.roll(base, (2 * t, t), axis=(0, 1)) for t in range(7)])
    source = np.roll(base, (5, -3), axis=(0, 1))[::-1].copy()
    return source, driving


@pytest.mark.parametrize(
    ("mode", "adapt", "batch_size"),
    [("relative", False, 3), ("relative", True, 7), ("absolute", False, 1)],
)
def test_matches_per_frame_loop(tiny_model, clip, mode, adapt, batch_size):
    source, driving = clip
    options = AnimationOptions(mode=mode, adapt_scale=adapt, batch_size=batch_size, device="cpu")
    ours = np.stack(list(animate_arrays(tiny_model, source, iter(driving), options)))
    expected = reference_loop(tiny_model, source, driving, mode == "relative", adapt)
    assert ours.shape == driving.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, atol=1e-5, rtol=0)


def test_best_frame_is_the_initial_frame(tiny_model, clip):
    source, driving = clip
    options = AnimationOptions(adapt_scale=True, best_frame=4, batch_size=2, device="cpu")
    ours = np.stack(list(animate_arrays(tiny_model, source, driving, options)))
    expected = reference_loop(tiny_model, source, driving, True, True, initial_index=4)
    np.testing.assert_allclose(ours, expected, atol=1e-5, rtol=0)
    first = np.stack(
        list(animate_arrays(tiny_model, source, driving, AnimationOptions(device="cpu")))
    )
    assert np.abs(first - ours).max() > 1e-4  # the initial frame matters


def test_find_best_frame_picks_the_source_pose(tiny_model, clip):
    source, driving = clip
    frames = driving.copy()
    frames[3] = source  # identical keypoints: distance 0
    animator = Animator(tiny_model, source, AnimationOptions(device="cpu"))
    distances = animator.shape_distance(animator.keypoints(frames))
    assert int(np.argmin(distances)) == 3 and distances[3] < 1e-10
    found = list(
        animate_arrays(
            tiny_model, source, frames, AnimationOptions(find_best_frame=True, device="cpu")
        )
    )
    given = list(
        animate_arrays(tiny_model, source, frames, AnimationOptions(best_frame=3, device="cpu"))
    )
    np.testing.assert_array_equal(np.stack(found), np.stack(given))


def test_best_frame_out_of_range(tiny_model, clip):
    source, driving = clip
    with pytest.raises(FommError, match="out of range"):
        list(
            animate_arrays(
                tiny_model, source, driving, AnimationOptions(best_frame=7, device="cpu")
            )
        )


@pytest.mark.bf16_cpu
def test_bf16_close_to_fp32(tiny_model, clip):
    source, driving = clip
    exact = np.stack(
        list(animate_arrays(tiny_model, source, driving, AnimationOptions(device="cpu")))
    )
    fast = np.stack(
        list(
            animate_arrays(
                tiny_model, source, driving, AnimationOptions(device="cpu", precision="bf16")
            )
        )
    )
    mse = float(np.mean((exact - fast) ** 2))
    assert 0 < mse and 10 * np.log10(1 / mse) > 30


@pytest.mark.parametrize("has_bf16", [False, pytest.param(True, marks=pytest.mark.bf16_cpu)])
def test_bf16_runs_on_cpus_with_bf16_arithmetic_and_as_fp32_elsewhere(
    tiny_model, clip, has_bf16, monkeypatch
):
    monkeypatch.setattr(engine_precision, "cpu_has_native_bf16", lambda: has_bf16)
    source, driving = clip
    animator = Animator(tiny_model, source, AnimationOptions(device="cpu", precision="bf16"))
    assert animator.precision == ("bf16" if has_bf16 else "fp32")
    frames = animator.animate(driving[:3])
    exact = Animator(tiny_model, source, AnimationOptions(device="cpu")).animate(driving[:3])
    assert np.array_equal(frames, exact) != has_bf16


@pytest.mark.parametrize("precision", ["fp32", pytest.param("bf16", marks=pytest.mark.bf16_cpu)])
def test_a_dropped_animator_frees_its_networks_without_the_garbage_collector(
    tiny_model, clip, precision
):
    # A reference cycle would keep the fused copies and their packed weights (hundreds of MB
    # at vox-256) until a collection, so the next animator would fault in fresh memory.
    source, driving = clip
    options = AnimationOptions(device="cpu", precision=precision, batch_size=2)
    collecting = gc.isenabled()
    gc.disable()
    try:
        animator = Animator(tiny_model, source, options)
        animator.animate(driving[:2])
        dropped = [weakref.ref(animator), weakref.ref(animator.generator)]
        dropped.append(weakref.ref(animator.kp_detector))
        assert animator.generator is not tiny_model.generator  # (the fused copy)
        del animator
        assert all(ref() is None for ref in dropped)
    finally:
        if collecting:
            gc.enable()


def test_align_corners_switch_changes_frames(tiny_model, clip):
    source, driving = clip
    default = np.stack(
        list(animate_arrays(tiny_model, source, driving[:2], AnimationOptions(device="cpu")))
    )
    legacy = np.stack(
        list(
            animate_arrays(
                tiny_model, source, driving[:2], AnimationOptions(device="cpu", align_corners=True)
            )
        )
    )
    tiny_model.set_align_corners(False)
    assert np.abs(default - legacy).max() > 1e-4


def test_compiled_matches_per_frame_loop(tiny_model, clip):
    """--compile: detector, keypoint transfer and generator as one compiled graph (slow to
    compile, so one case: relative + adapt scale, where the jacobian inverse is hoisted)."""
    source, driving = clip
    driving = driving[:6]
    options = AnimationOptions(adapt_scale=True, batch_size=3, device="cpu", compile=True)
    ours = np.stack(list(animate_arrays(tiny_model, source, driving, options)))
    expected = reference_loop(tiny_model, source, driving, relative=True, adapt_scale=True)
    assert np.abs(ours - expected).max() < 1e-5


@pytest.mark.gpu
def test_cuda_compiled_close_to_eager(tiny_model, clip):
    """--compile on CUDA replays CUDA graphs; a short last batch is padded to the same shape."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    source, driving = clip
    for precision, tolerance in [("fp32", 1e-4), ("fp16", 5e-3)]:
        frames = {}
        for compiled in (False, True):
            options = AnimationOptions(
                device="cuda", precision=precision, batch_size=4, compile=compiled
            )
            frames[compiled] = np.stack(list(animate_arrays(tiny_model, source, driving, options)))
        assert len(frames[True]) == len(driving)
        assert np.abs(frames[True] - frames[False]).max() < tolerance
    tiny_model.kp_detector.to("cpu")
    tiny_model.generator.to("cpu")


@pytest.mark.gpu
def test_cuda_fp16_close_to_cpu_fp32(tiny_model, clip):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    source, driving = clip
    exact = np.stack(
        list(animate_arrays(tiny_model, source, driving, AnimationOptions(device="cpu")))
    )
    for precision, tolerance in [("fp32", 1e-4), ("fp16", 5e-3)]:
        options = AnimationOptions(device="cuda", precision=precision, batch_size=64)
        ours = np.stack(list(animate_arrays(tiny_model, source, driving, options)))
        assert np.abs(ours - exact).max() < tolerance
    tiny_model.kp_detector.to("cpu")
    tiny_model.generator.to("cpu")
