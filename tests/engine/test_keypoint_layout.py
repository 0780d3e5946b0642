"""The engine detects keypoints on contiguous frames on the CPU: channels-last convolutions
round differently, and the detector's spatial softmax turns that rounding into keypoint
moves that shift whole frames (the vox-256 benchmark's difference to the naive loop went
from 1.6e-5 to 8.8e-6 with this)."""

from __future__ import annotations

import numpy as np
import torch

from fomm.engine.animate import AnimationOptions, Animator


def test_cpu_fp32_keypoints_are_those_of_contiguous_frames(tiny_model):
    rng = np.random.default_rng(5)
    frames = rng.uniform(0, 1, (4, 64, 64, 3)).astype(np.float32)
    as_nchw = torch.from_numpy(frames).permute(0, 3, 1, 2)
    with torch.inference_mode():
        contiguous = tiny_model.kp_detector(as_nchw.contiguous())
        channels_last = tiny_model.kp_detector(
            as_nchw.contiguous(memory_format=torch.channels_last)
        )
    # the two layouts do round differently on this model, so the check below can tell them apart
    assert not torch.equal(contiguous["value"], channels_last["value"])

    options = AnimationOptions(device="cpu", batch_size=4, channels_last=True)
    animator = Animator(tiny_model, frames[0], options)
    detected = animator.keypoints(frames)
    assert torch.equal(detected["value"], contiguous["value"])
    assert torch.equal(detected["jacobian"], contiguous["jacobian"])

    animator.animate(frames)
    assert torch.equal(animator.kp_initial["value"], contiguous["value"][:1])
