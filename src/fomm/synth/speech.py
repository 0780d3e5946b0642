"""Speech-like audio (voiced vowels with a syllable rhythm) and the mouth opening it implies."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# (F1, F2, F3) in Hz and how wide each vowel opens the mouth (0..1).
VOWELS: dict[str, tuple[tuple[float, float, float], float]] = {
    "a": ((730.0, 1090.0, 2440.0), 1.0),
    "o": ((570.0, 840.0, 2410.0), 0.75),
    "e": ((530.0, 1840.0, 2480.0), 0.6),
    "u": ((300.0, 870.0, 2240.0), 0.4),
    "i": ((270.0, 2290.0, 3010.0), 0.35),
}


@dataclass(frozen=True)
class SpeechPlan:
    """Syllables as parallel arrays: start and length in seconds, vowel, loudness."""

    starts: np.ndarray
    durations: np.ndarray
    vowels: tuple[str, ...]
    loudness: np.ndarray
    pitch_hz: float
    duration: float


def plan_speech(seed: int, duration: float) -> SpeechPlan:
    """Random words of 1-4 syllables separated by short pauses, filling `duration` seconds."""
    rng = np.random.default_rng([seed, 0xA0D10])
    starts, durations, vowels, loudness = [], [], [], []
    time = rng.uniform(0.05, 0.4)
    while time < duration - 0.1:
        for _ in range(int(rng.integers(1, 5))):
            length = rng.uniform(0.14, 0.3)
            if time + length > duration:
                break
            starts.append(time)
            durations.append(length)
            vowels.append(str(rng.choice(list(VOWELS))))
            loudness.append(rng.uniform(0.6, 1.0))
            time += length + rng.uniform(0.02, 0.06)
        time += rng.uniform(0.12, 0.45)
    return SpeechPlan(
        starts=np.array(starts),
        durations=np.array(durations),
        vowels=tuple(vowels),
        loudness=np.array(loudness),
        pitch_hz=float(rng.uniform(100, 220)),
        duration=float(duration),
    )


def _syllable_envelopes(plan: SpeechPlan, times: np.ndarray) -> np.ndarray:
    """(syllables, len(times)): each syllable's loudness over time (a smooth bump)."""
    if len(plan.starts) == 0:
        return np.zeros((0, len(times)))
    phase = (times[None, :] - plan.starts[:, None]) / plan.durations[:, None]
    bump = np.where((phase > 0) & (phase < 1), np.sin(np.pi * np.clip(phase, 0, 1)) ** 0.8, 0.0)
    return bump * plan.loudness[:, None]


def mouth_opening(plan: SpeechPlan, times: np.ndarray) -> np.ndarray:
    """Mouth opening (0..1) at `times` seconds: the syllable envelope times the vowel's width."""
    openness = np.array([VOWELS[v][1] for v in plan.vowels])
    envelopes = _syllable_envelopes(plan, times)
    if len(openness) == 0:
        return np.zeros_like(times)
    return np.clip((envelopes * openness[:, None]).max(axis=0), 0, 1)


def synthesise_speech(plan: SpeechPlan, sample_rate: int = 16000) -> np.ndarray:
    """Mono float32 samples in [-1, 1]: a harmonic voice shaped by each vowel's formants."""
    rng = np.random.default_rng(int(plan.pitch_hz * 1000))
    num_samples = round(plan.duration * sample_rate)
    times = np.arange(num_samples) / sample_rate
    envelopes = _syllable_envelopes(plan, times)
    if len(envelopes) == 0:
        return np.zeros(num_samples, np.float32)
    loudest = envelopes.argmax(axis=0)
    amplitude = envelopes.max(axis=0)
    formants = np.array([VOWELS[v][0] for v in plan.vowels])[loudest]  # (samples, 3)
    # Intonation: a slow drift plus a fall over each word.
    pitch = plan.pitch_hz * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * times) - 0.05 * amplitude)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    harmonics = np.arange(1, int(3800 / plan.pitch_hz) + 1)
    signal = np.zeros(num_samples)
    bandwidths = np.array([90.0, 110.0, 170.0])
    gains = np.array([1.0, 0.6, 0.3])
    for k in harmonics:
        resonance = gains / (1 + ((k * pitch[:, None] - formants) / bandwidths) ** 2)
        signal += resonance.sum(axis=1) / k**0.5 * np.sin(k * phase)
    onsets = np.zeros(num_samples)
    for start in plan.starts:
        burst = (times - start + 0.03) / 0.03
        onsets += np.where((burst > 0) & (burst < 1), np.sin(np.pi * burst), 0)
    signal = signal * amplitude + 0.15 * onsets * rng.standard_normal(num_samples)
    peak = np.abs(signal).max()
    return (0.8 * signal / peak if peak > 0 else signal).astype(np.float32)


def frame_loudness(
    samples: np.ndarray, sample_rate: int, fps: float, num_frames: int
) -> np.ndarray:
    """RMS of the audio in each video frame's time slot."""
    per_frame = sample_rate / fps
    out = np.zeros(num_frames)
    for i in range(num_frames):
        chunk = samples[int(i * per_frame) : int((i + 1) * per_frame)]
        out[i] = np.sqrt(np.mean(chunk.astype(np.float64) ** 2)) if len(chunk) else 0.0
    return out


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """16-bit mono WAV with the standard library's `wave`."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
