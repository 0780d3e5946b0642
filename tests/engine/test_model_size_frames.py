"""Driving frames that already have the model's size travel as uint8 and become the same
floats on the device as `resize_for_model` gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fomm.engine import animate
from fomm.engine.animate import (
    AnimationOptions,
    Animator,
    animate_file,
    batched,
    frame_for_model,
    frames_to_tensor,
)
from fomm.media.resize import resize_for_model
from fomm.media.video import VideoReader, VideoWriter


def every_value_frames(count: int = 2, size: int = 64) -> np.ndarray:
    """(count, size, size, 3) uint8 holding all 256 values in every channel, shuffled."""
    rng = np.random.default_rng(3)
    values = np.resize(np.arange(256, dtype=np.uint8), count * size * size * 3)
    return rng.permutation(values).reshape(count, size, size, 3)


@pytest.mark.parametrize("channels_last", [True, False])
def test_uint8_frames_give_the_resize_path_floats(channels_last):
    frames = every_value_frames()
    floats = np.stack([resize_for_model(frame, (64, 64)) for frame in frames])
    device = torch.device("cpu")
    from_uint8 = frames_to_tensor(frames, device, channels_last)
    from_floats = frames_to_tensor(floats, device, channels_last)
    assert from_uint8.dtype == torch.float32 and from_uint8.shape == (2, 3, 64, 64)
    assert torch.equal(from_uint8, from_floats)
    assert from_uint8.is_contiguous(memory_format=torch.channels_last) == channels_last


@pytest.mark.gpu
def test_uint8_frames_on_cuda_give_the_cpu_floats():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    frames = every_value_frames()
    on_cuda = frames_to_tensor(frames, torch.device("cuda"), True).cpu()
    floats = np.stack([resize_for_model(frame, (64, 64)) for frame in frames])
    assert torch.equal(on_cuda, frames_to_tensor(floats, torch.device("cpu"), True))


def test_only_model_size_or_device_resized_uint8_frames_stay_uint8():
    frame = every_value_frames(1)[0]
    assert frame_for_model(frame, (64, 64)) is frame
    smaller = frame_for_model(frame, (32, 32))
    assert smaller.dtype == np.float32
    np.testing.assert_array_equal(smaller, resize_for_model(frame, (32, 32)))
    # unless the device resizes them (a GPU's default)
    assert frame_for_model(frame, (32, 32), keep_uint8=True) is frame
    as_float = frame.astype(np.float32) / 255
    assert frame_for_model(as_float, (64, 64)).dtype == np.float32
    kept = list(batched([frame] * 5, 2))
    assert [batch.dtype for batch in kept] == [np.uint8] * 3
    assert [len(batch) for batch in kept] == [2, 2, 1]
    assert all(batch.dtype == np.float32 for batch in batched([as_float] * 3, 2))


def test_animated_frames_equal_for_uint8_and_float_input(tiny_model):
    frames = every_value_frames(3)
    floats = np.stack([resize_for_model(frame, (64, 64)) for frame in frames])
    source = resize_for_model(frames[0], (64, 64))
    options = AnimationOptions(device="cpu", batch_size=3)
    from_uint8 = Animator(tiny_model, source, options).animate_uint8(frames)
    from_floats = Animator(tiny_model, source, options).animate_uint8(floats)
    np.testing.assert_array_equal(from_uint8, from_floats)


def test_model_size_clip_is_decoded_as_uint8_and_animated(tiny_model, media, tmp_path):
    frames = np.full((6, 64, 64, 3), 40, dtype=np.uint8)
    for t in range(6):
        frames[t, 10 + 3 * t : 30 + 3 * t, 12:32] = (220, 140, 40)
    clip = tmp_path / "model-size.mp4"
    with VideoWriter(clip, 10) as writer:
        writer.write(frames)
    animator = Animator(
        tiny_model, resize_for_model(frames[0], (64, 64)), AnimationOptions(device="cpu")
    )
    decoded = list(animate._driving_frames(clip, animator))
    assert len(decoded) == 6 and all(frame.dtype == np.uint8 for frame in decoded)
    out = tmp_path / "out.mp4"
    report = animate_file(
        tiny_model, media["source"], clip, out, AnimationOptions(device="cpu", batch_size=4)
    )
    assert report.frames == 6
    assert 0 < report.startup_seconds <= report.seconds
    assert VideoReader(out).read_all().shape == (6, 64, 64, 3)
