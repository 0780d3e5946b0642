"""Motion parameters per frame, and smooth random trajectories of them."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from fomm.synth.speech import SpeechPlan, mouth_opening


@dataclass(frozen=True)
class Motion:
    """One value per frame for each parameter (all arrays of the same length).

    translation_x/y: head centre offset in half-frame units (+x right, +y down);
    rotation: in-plane, radians; scale: head size factor; yaw: -1..1 sideways squash;
    mouth: 0 closed..1 wide open; blink: 0 open..1 shut; gaze_x/y: -1..1; brows: 0..1 raised.
    """

    translation_x: np.ndarray
    translation_y: np.ndarray
    rotation: np.ndarray
    scale: np.ndarray
    yaw: np.ndarray
    mouth: np.ndarray
    blink: np.ndarray
    gaze_x: np.ndarray
    gaze_y: np.ndarray
    brows: np.ndarray

    def __len__(self) -> int:
        return len(self.translation_x)

    def frame(self, index: int) -> Motion:
        """The motion of one frame, as a one-frame Motion."""
        return self.slice(index, index + 1)

    def slice(self, start: int, stop: int) -> Motion:
        return Motion(**{f.name: getattr(self, f.name)[start:stop] for f in fields(self)})

    def repeat_frame(self, index: int, count: int) -> Motion:
        """`count` copies of one frame's pose (a still)."""
        return Motion(
            **{
                f.name: np.repeat(getattr(self, f.name)[index : index + 1], count)
                for f in fields(self)
            }
        )

    def as_array(self) -> np.ndarray:
        """(frames, 10) in field order."""
        return np.stack([getattr(self, f.name) for f in fields(self)], axis=1)


def neutral_motion(num_frames: int) -> Motion:
    """A puppet looking straight ahead, mouth closed, eyes open."""
    zeros = np.zeros(num_frames)
    return Motion(
        translation_x=zeros,
        translation_y=zeros.copy(),
        rotation=zeros.copy(),
        scale=np.ones(num_frames),
        yaw=zeros.copy(),
        mouth=zeros.copy(),
        blink=zeros.copy(),
        gaze_x=zeros.copy(),
        gaze_y=zeros.copy(),
        brows=np.full(num_frames, 0.3),
    )


def _smooth_curve(
    rng: np.random.Generator, times: np.ndarray, max_hz: float, components: int = 3
) -> np.ndarray:
    """Sum of a few random low-frequency sinusoids, scaled to about [-1, 1]."""
    freqs = rng.uniform(0.08, max_hz, components)
    phases = rng.uniform(0, 2 * np.pi, components)
    weights = rng.uniform(0.4, 1.0, components)
    curve = np.sum(
        weights[:, None] * np.sin(2 * np.pi * freqs[:, None] * times + phases[:, None]), 0
    )
    return curve / weights.sum() * 1.6


def _blinks(rng: np.random.Generator, times: np.ndarray) -> np.ndarray:
    blink = np.zeros_like(times)
    start = rng.uniform(0.2, 2.0)
    while start < times[-1] + 1:
        duration = rng.uniform(0.15, 0.3)
        phase = (times - start) / duration
        blink = np.maximum(blink, np.where((phase > 0) & (phase < 1), np.sin(np.pi * phase), 0))
        start += rng.uniform(1.2, 4.0)
    return np.clip(blink * 1.3, 0, 1)


def random_motion(
    seed: int,
    num_frames: int,
    fps: float = 25.0,
    speech: SpeechPlan | None = None,
    amplitude: float = 1.0,
) -> Motion:
    """Smooth random head motion, blinks and gaze; the mouth follows `speech` if given.

    Without speech the mouth opens and closes at random syllable-like times.
    """
    rng = np.random.default_rng([seed, 0x0107])
    times = np.arange(num_frames) / fps
    if speech is None:
        from fomm.synth.speech import plan_speech

        speech = plan_speech(seed ^ 0x3A3A, times[-1] + 1.0 / fps)
    mouth = mouth_opening(speech, times)
    return Motion(
        translation_x=np.clip(0.13 * amplitude * _smooth_curve(rng, times, 0.7), -0.25, 0.25),
        translation_y=np.clip(0.09 * amplitude * _smooth_curve(rng, times, 0.7), -0.2, 0.2),
        rotation=np.clip(0.22 * amplitude * _smooth_curve(rng, times, 0.6), -0.45, 0.45),
        scale=np.clip(1.0 + 0.08 * amplitude * _smooth_curve(rng, times, 0.5), 0.8, 1.2),
        yaw=np.clip(0.45 * amplitude * _smooth_curve(rng, times, 0.6), -0.8, 0.8),
        mouth=mouth,
        blink=_blinks(rng, times),
        gaze_x=np.clip(0.7 * _smooth_curve(rng, times, 0.9), -1, 1),
        gaze_y=np.clip(0.5 * _smooth_curve(rng, times, 0.9), -1, 1),
        brows=np.clip(0.4 + 0.3 * _smooth_curve(rng, times, 0.8) + 0.3 * mouth, 0, 1),
    )
