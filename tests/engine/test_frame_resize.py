"""Driving frames resized from the resize's banded maps, on the device (`resize_frames`) or in
the decoder thread (`resize_frame`), give `resize_for_model`'s floats."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fomm.engine import animate
from fomm.engine.animate import AnimationOptions, animate_file, frames_to_tensor
from fomm.engine.frame_resize import resize_frames
from fomm.media import resize as media_resize
from fomm.media.resize import picture_for_model, resize_for_model, resize_frame
from fomm.media.video import VideoReader

ONE_ULP_AT_1 = float(np.spacing(np.float32(1)))


def random_frames(count: int, height: int, width: int, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(height * 1000 + width)
    return rng.integers(0, 256, (count, height, width, channels), dtype=np.uint8)


def reference(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.stack([resize_for_model(frame, size) for frame in frames])


def on_device(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return resize_frames(torch.from_numpy(frames), size).permute(0, 2, 3, 1).numpy()


def in_decoder(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.stack([resize_frame(frame, size) for frame in frames])


RESIZERS = pytest.mark.parametrize("resize", [on_device, in_decoder], ids=["device", "decoder"])


def assert_same_floats(ours: np.ndarray, expected: np.ndarray) -> None:
    assert ours.dtype == np.float32 and ours.shape == expected.shape
    # float64 sums in another order: equal after the cast to float32, or one unit off
    assert np.abs(ours - expected).max() <= ONE_ULP_AT_1
    assert (ours == expected).mean() >= 0.9999


@RESIZERS
@pytest.mark.parametrize(
    "shape, size",
    [
        ((720, 1280), (256, 256)),
        ((240, 320), (256, 256)),
        ((100, 80), (64, 64)),
        ((333, 257), (64, 80)),
        ((5, 1), (3, 4)),
    ],
)
def test_banded_resize_gives_the_resize_for_model_floats(resize, shape, size):
    frames = random_frames(2, *shape)
    ours = resize(frames, size)
    assert_same_floats(ours, reference(frames, size))


@RESIZERS
def test_alpha_is_dropped_as_in_skimage(resize):
    frames = random_frames(2, 90, 70, channels=4) // 2 + 60  # colours 60..187
    frames[:, :3, :, 3] = 0
    frames[:, -3:, :, 3] = 255
    ours = resize(frames, (32, 32))
    assert ours.shape == (2, 32, 32, 3)
    assert_same_floats(ours, reference(frames, (32, 32)))


@RESIZERS
def test_resize_demo_kit_frames(resize, shared_dir):
    case = shared_dir / "conformance" / "public" / "resize-demo"
    inputs = np.load(case / "inputs.npz")
    expected = np.load(case / "expected.npz")
    frames = inputs["driving_uint8"]
    ours = resize(frames, (256, 256))
    np.testing.assert_allclose(ours, expected["driving_resized"], rtol=0, atol=1e-5)
    assert_same_floats(ours, reference(frames, (256, 256)))


@pytest.mark.parametrize(
    "picture",
    [
        random_frames(1, 1200, 1600)[0],  # a photo shrunk 25x (sigma 12: 100-tap Gaussians)
        random_frames(1, 300, 200, channels=4)[0],  # RGBA
        random_frames(1, 64, 64)[0],  # already the model's size
        random_frames(1, 50, 40, channels=1)[0, ..., 0],  # grey: skimage's path
        np.linspace(0, 1, 40 * 30 * 3, dtype=np.float32).reshape(40, 30, 3),  # floats
    ],
    ids=["large-photo", "rgba", "model-size", "grey", "float"],
)
def test_pictures_for_the_model_are_the_resize_for_model_floats(picture):
    ours = picture_for_model(picture, (64, 64))
    assert_same_floats(ours[None], reference(picture[None], (64, 64)))


def test_device_resize_is_the_same_in_chunks_and_under_autocast(monkeypatch):
    """Large frames go in chunks of frames (bounded device memory); under fp16/bf16 autocast,
    as when the animator finds keypoints, the float64 products stay float64."""
    from fomm.engine import frame_resize

    frames = torch.from_numpy(random_frames(5, 90, 70))
    whole = resize_frames(frames, (32, 32))
    monkeypatch.setattr(frame_resize, "CHUNK_PIXELS", 2 * 90 * 70)
    assert torch.equal(resize_frames(frames, (32, 32)), whole)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = resize_frames(frames, (32, 32))
    assert under_autocast.dtype == torch.float32 and torch.equal(under_autocast, whole)


def test_only_uint8_frames():
    with pytest.raises(ValueError, match="uint8"):
        resize_frames(torch.zeros(1, 8, 8, 3), (4, 4))
    with pytest.raises(ValueError, match="uint8"):
        resize_frames(torch.zeros(1, 8, 8, 1, dtype=torch.uint8), (4, 4))
    with pytest.raises(ValueError, match="uint8"):
        resize_frame(np.zeros((8, 8, 3), np.float32), (4, 4))
    with pytest.raises(ValueError, match="uint8"):
        resize_frame(np.zeros((8, 8), np.uint8), (4, 4))


@pytest.mark.parametrize("channels_last", [True, False])
def test_frames_to_tensor_resizes_uint8_frames_of_another_size(channels_last):
    frames = random_frames(3, 72, 88)
    cpu = torch.device("cpu")
    resized = frames_to_tensor(frames, cpu, channels_last, size=(64, 64))
    assert resized.shape == (3, 3, 64, 64) and resized.dtype == torch.float32
    assert resized.is_contiguous(memory_format=torch.channels_last) == channels_last
    expected = frames_to_tensor(reference(frames, (64, 64)), cpu, channels_last)
    assert_same_floats(resized.numpy(), expected.numpy())
    # frames of the model's size take the uint8 table, not the resize
    model_size = random_frames(2, 64, 64)
    assert torch.equal(
        frames_to_tensor(model_size, cpu, channels_last, size=(64, 64)),
        frames_to_tensor(model_size, cpu, channels_last),
    )


def decoded(path) -> np.ndarray:
    return VideoReader(path).read_all()


@pytest.mark.parametrize("find_best_frame", [False, True])
def test_file_engine_frames_are_the_same_whoever_resizes(
    tiny_model, media, tmp_path, monkeypatch, find_best_frame
):
    """The decoder thread resizes 72x88 driving frames for the 64x64 model (a CPU's default),
    or hands them to the device, which resizes them (a GPU's): the same frames as skimage's
    resize in the decoder, as the engine did before."""
    device_calls = []

    def counting_device_resize(frames, size):
        device_calls.append(tuple(frames.shape))
        return resize_frames(frames, size)

    monkeypatch.setattr(animate, "resize_frames", counting_device_resize)
    reports, outputs = {}, {}
    for resizer in ("skimage", "decoder", "device"):
        with monkeypatch.context() as patch:
            if resizer == "skimage":
                patch.setattr(media_resize, "resize_frame", resize_for_model)
            options = AnimationOptions(
                device="cpu",
                batch_size=4,
                device_resize=resizer == "device",
                find_best_frame=find_best_frame,
            )
            outputs[resizer] = tmp_path / f"{resizer}.mp4"
            reports[resizer] = animate_file(
                tiny_model, media["source"], media["driving"], outputs[resizer], options
            )
        assert bool(device_calls) == (resizer == "device")
    assert all(shape[1:] == (72, 88, 3) for shape in device_calls)
    assert {report.frames for report in reports.values()} == {10}
    assert len({report.best_frame for report in reports.values()}) == 1
    for resizer in ("decoder", "device"):
        np.testing.assert_array_equal(decoded(outputs[resizer]), decoded(outputs["skimage"]))


def test_a_cpu_animator_leaves_the_resize_to_the_decoder(tiny_model, media):
    source = resize_for_model(VideoReader(media["driving"]).read_all()[0], (64, 64))
    animator = animate.Animator(tiny_model, source, AnimationOptions(device="cpu"))
    assert animator.frame_size == (64, 64) and not animator.resizes_frames


@pytest.mark.gpu
def test_cuda_resize_gives_the_resize_for_model_floats():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    frames = random_frames(4, 720, 1280)
    ours = (
        resize_frames(torch.from_numpy(frames).cuda(), (256, 256)).permute(0, 2, 3, 1).cpu().numpy()
    )
    assert_same_floats(ours, reference(frames, (256, 256)))
