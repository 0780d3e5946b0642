"""Synthetic talking puppets: identities, motions, speech audio and a numpy renderer (no torch)."""

from fomm.synth.identity import PuppetIdentity, sample_identity
from fomm.synth.motion import Motion, neutral_motion, random_motion
from fomm.synth.render import landmark_positions, render_frames
from fomm.synth.speech import SpeechPlan, mouth_opening, plan_speech, synthesise_speech, write_wav

__all__ = [
    "Motion",
    "PuppetIdentity",
    "SpeechPlan",
    "landmark_positions",
    "mouth_opening",
    "neutral_motion",
    "plan_speech",
    "random_motion",
    "render_frames",
    "sample_identity",
    "synthesise_speech",
    "write_wav",
]
