"""At fp32 on the CPU the engine detects keypoints as the original demo does: on contiguous
frames, one frame at a time. Channels-last convolutions and batches round differently, and
the detector's spatial softmax turns that rounding into keypoint moves that shift whole
frames (the vox-256 benchmark's difference to the naive loop: 1.6e-5 with channels-last
frames, 8.8e-6 contiguous; on an AVX2 CPU 1.40e-5 in batches of 4, 9.8e-6 frame by frame)."""

from __future__ import annotations

import numpy as np
import torch

from fomm.engine.animate import AnimationOptions, Animator


def test_cpu_fp32_keypoints_are_those_of_each_contiguous_frame(tiny_model):
    rng = np.random.default_rng(5)
    frames = rng.uniform(0, 1, (4, 64, 64, 3)).astype(np.float32)
    as_nchw = torch.from_numpy(frames).permute(0, 3, 1, 2)
    with torch.inference_mode():
        each = [tiny_model.kp_detector(frame) for frame in as_nchw.contiguous().split(1)]
        channels_last = tiny_model.kp_detector(
            as_nchw.contiguous(memory_format=torch.channels_last)
        )
    expected = {name: torch.cat([kp[name] for kp in each]) for name in each[0]}
    # the two layouts do round differently on this model, so the check below can tell them apart
    assert not torch.equal(expected["value"], channels_last["value"])

    options = AnimationOptions(device="cpu", batch_size=4, channels_last=True)
    animator = Animator(tiny_model, frames[0], options)
    detected = animator.keypoints(frames)
    assert torch.equal(detected["value"], expected["value"])
    assert torch.equal(detected["jacobian"], expected["jacobian"])

    animator.animate(frames)
    assert torch.equal(animator.kp_initial["value"], expected["value"][:1])
