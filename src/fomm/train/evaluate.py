"""Score a model on held-out synthetic puppets, where the right answer is known.

For each pair, puppet B talks and moves (the driving clip) and puppet A is rendered in B's
first pose (the source). The ground truth of "animate A with B" is A rendered with B's
motion. Metrics are mean absolute errors of [0, 1] RGB frames at the model's frame size:
- reconstruction_l1: B's clip rebuilt from B's first frame (same identity);
- cross_identity_l1: A animated by B's clip, against A rendered with B's motion;
- no_motion_l1 / reconstruction_no_motion_l1: the same with the output = the source frame;
- keypoint_jitter: mean |second difference| of detected keypoints over the driving clips,
  in pixels, next to landmark_jitter, the same measure on the true face landmarks;
- still_frame_l1: the error on each clip's first frame, where no motion is asked for: the
  generator's own floor (blur), which every other score includes.
Animation is relative with adapt scale off.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from fomm.train.datasets import HELD_OUT_SEED_BASE

FPS = 25


@dataclass(frozen=True)
class HeldOutPair:
    source_seed: int
    driving_seed: int


@dataclass(frozen=True)
class EvaluationResult:
    reconstruction_l1: float
    cross_identity_l1: float
    no_motion_l1: float
    reconstruction_no_motion_l1: float
    keypoint_jitter: float
    landmark_jitter: float
    still_frame_l1: float
    pairs: int
    frames: int
    seed: int
    frame_size: int

    def to_json_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def table(self) -> str:
        """Plain-text table: metric, model, no-motion baseline, ratio."""
        rows = [
            ("reconstruction L1", self.reconstruction_l1, self.reconstruction_no_motion_l1),
            ("cross-identity L1", self.cross_identity_l1, self.no_motion_l1),
        ]
        lines = [
            (
                f"held-out puppets: {self.pairs} pairs x {self.frames} frames, seed {self.seed}, "
                f"{self.frame_size}x{self.frame_size}, relative, no adapt scale"
            ),
            f"{'metric':<24}{'fomm':>10}{'no motion':>12}{'ratio':>8}",
        ]
        for name, value, baseline in rows:
            ratio = value / baseline if baseline > 0 else float("nan")
            lines.append(f"{name:<24}{value:>10.4f}{baseline:>12.4f}{ratio:>8.2f}")
        lines.append(f"{'still frame L1':<24}{self.still_frame_l1:>10.4f}{0.0:>12.4f}")
        lines.append(
            f"{'keypoint jitter (px)':<24}{self.keypoint_jitter:>10.4f}"
            f"{self.landmark_jitter:>12.4f}   (true landmarks)"
        )
        return "\n".join(lines)


def held_out_pairs(seed: int, count: int) -> list[HeldOutPair]:
    """Identity/motion seeds disjoint from every training seed."""
    base = HELD_OUT_SEED_BASE + seed * 1000
    return [HeldOutPair(base + 2 * i, base + 2 * i + 1) for i in range(count)]


def talking_motion(seed: int, num_frames: int, fps: float = FPS):
    """A held-out talking motion and its speech plan (mouth driven by the syllables)."""
    from fomm.synth import plan_speech, random_motion

    plan = plan_speech(seed, num_frames / fps)
    return random_motion(seed, num_frames, fps=fps, speech=plan), plan


def render_pair(pair: HeldOutPair, num_frames: int, size: int):
    """(source (H,W,3), driving (T,H,W,3), truth (T,H,W,3)) uint8, and B's speech plan."""
    from fomm.synth import render_frames, sample_identity

    motion, plan = talking_motion(pair.driving_seed, num_frames)
    source_identity = sample_identity(pair.source_seed)
    driving = render_frames(sample_identity(pair.driving_seed), motion, size)
    truth = render_frames(source_identity, motion, size)
    return truth[0], driving, truth, plan


def _to_tensor(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    array = np.ascontiguousarray(np.asarray(frames).transpose(0, 3, 1, 2))
    return torch.from_numpy(array).to(device=device, dtype=torch.float32) / 255.0


@torch.no_grad()
def animate_relative(model, source: np.ndarray, driving: np.ndarray, batch_size: int = 16):
    """(T,H,W,3) float predictions in [0,1] and driving keypoint values (T,K,2)."""
    from fomm.model.kinematics import normalize_kp

    device = model.device
    source_tensor = _to_tensor(source[None], device)
    kp_source = model.kp_detector(source_tensor)
    features = model.generator.encode_source(source_tensor)
    kp_initial = None
    predictions, keypoints = [], []
    for start in range(0, len(driving), batch_size):
        chunk = _to_tensor(driving[start : start + batch_size], device)
        kp_driving = model.kp_detector(chunk)
        if kp_initial is None:
            kp_initial = {name: value[:1] for name, value in kp_driving.items()}
        kp_norm = normalize_kp(kp_source, kp_driving, kp_initial, relative=True, adapt_scale=False)
        out = model.generator(
            source_tensor, kp_source, kp_norm, source_features=features, full_output=False
        )
        predictions.append(out["prediction"].permute(0, 2, 3, 1).float().cpu().numpy())
        keypoints.append(kp_driving["value"].float().cpu().numpy())
    return np.concatenate(predictions), np.concatenate(keypoints)


def second_difference_jitter(tracks: np.ndarray, size: int) -> float:
    """Mean length of x[t+1] - 2 x[t] + x[t-1] over (T, N, 2) tracks, in pixels."""
    if len(tracks) < 3:
        return 0.0
    acceleration = tracks[2:] - 2 * tracks[1:-1] + tracks[:-2]
    return float(np.linalg.norm(acceleration, axis=-1).mean() * (size - 1) / 2)


def evaluate_model(
    model,
    seed: int = 0,
    num_pairs: int = 8,
    num_frames: int = 100,
    video_path: str | os.PathLike | None = None,
) -> EvaluationResult:
    """Score `model` (a fomm.model.checkpoint.LoadedModel) on held-out puppets."""
    from fomm.synth import landmark_positions, sample_identity

    size = model.config.frame_shape[0]
    sums = {"rec": 0.0, "rec_still": 0.0, "cross": 0.0, "cross_still": 0.0, "first": 0.0}
    jitters, landmark_jitters = [], []
    first_video = None
    for index, pair in enumerate(held_out_pairs(seed, num_pairs)):
        source, driving, truth, plan = render_pair(pair, num_frames, size)
        driving_f = driving.astype(np.float32) / 255
        truth_f = truth.astype(np.float32) / 255
        rebuilt, keypoints = animate_relative(model, driving[0], driving)
        sums["rec"] += float(np.abs(rebuilt - driving_f).mean())
        sums["rec_still"] += float(np.abs(driving_f[:1] - driving_f).mean())
        sums["first"] += float(np.abs(rebuilt[0] - driving_f[0]).mean())
        animated, _ = animate_relative(model, source, driving)
        sums["cross"] += float(np.abs(animated - truth_f).mean())
        sums["cross_still"] += float(np.abs(truth_f[:1] - truth_f).mean())
        jitters.append(second_difference_jitter(keypoints, size))
        motion, _ = talking_motion(pair.driving_seed, num_frames)
        landmarks = landmark_positions(sample_identity(pair.driving_seed), motion)
        landmark_jitters.append(second_difference_jitter(landmarks, size))
        if index == 0:
            first_video = (source, driving, animated, truth, plan)
    if video_path is not None and first_video is not None:
        write_comparison_video(video_path, *first_video)
    return EvaluationResult(
        reconstruction_l1=sums["rec"] / num_pairs,
        cross_identity_l1=sums["cross"] / num_pairs,
        no_motion_l1=sums["cross_still"] / num_pairs,
        reconstruction_no_motion_l1=sums["rec_still"] / num_pairs,
        keypoint_jitter=float(np.mean(jitters)),
        landmark_jitter=float(np.mean(landmark_jitters)),
        still_frame_l1=sums["first"] / num_pairs,
        pairs=num_pairs,
        frames=num_frames,
        seed=seed,
        frame_size=size,
    )


def comparison_frames(source, driving, animated, truth, tile: int = 256) -> np.ndarray:
    """(T, tile, 4*tile, 3) uint8: [source | driving | fomm | ground truth]."""
    size = driving.shape[1]
    factor = max(1, tile // size)

    def enlarge(frames: np.ndarray) -> np.ndarray:
        return frames.repeat(factor, axis=1).repeat(factor, axis=2)

    animated_u8 = np.clip(animated * 255 + 0.5, 0, 255).astype(np.uint8)
    still = np.repeat(source[None], len(driving), axis=0)
    return np.concatenate([enlarge(x) for x in (still, driving, animated_u8, truth)], axis=2)


def write_comparison_video(path, source, driving, animated, truth, plan) -> Path:
    """Side-by-side mp4 with the driving puppet's speech as its sound track."""
    import tempfile

    from fomm.fileutil import ensure_writable_dir
    from fomm.media.audio import mux_audio
    from fomm.media.video import VideoWriter
    from fomm.synth import synthesise_speech, write_wav

    path = Path(path)
    ensure_writable_dir(path)
    frames = comparison_frames(source, driving, animated, truth)
    with tempfile.TemporaryDirectory(prefix="fomm-evaluate-") as scratch:
        silent = Path(scratch) / "silent.mp4"
        wav = Path(scratch) / "speech.wav"
        with VideoWriter(silent, FPS) as writer:
            writer.write(frames)
        write_wav(wav, synthesise_speech(plan), 16000)
        mux_audio(silent, wav, path)
    return path
