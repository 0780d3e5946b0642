"""Puppet identities: everything about a puppet that stays fixed while it moves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Species = Literal["human", "cat", "can"]
Style = Literal["flat", "painting"]
Colour = tuple[float, float, float]


@dataclass(frozen=True)
class PuppetIdentity:
    """Shape, colours and textures of one puppet; lengths are in head units (see render)."""

    species: Species
    style: Style
    head_width: float
    head_height: float
    head_squareness: float
    head_size: float
    skin: Colour
    hair: Colour
    hair_style: int
    hairline: float
    background: Colour
    background_accent: Colour
    clothing: Colour
    iris: Colour
    lips: Colour
    eye_spacing: float
    eye_height: float
    eye_size: float
    brow_thickness: float
    nose_length: float
    mouth_height: float
    mouth_width: float
    texture_seed: int


def _hsv_to_rgb(hue: float, saturation: float, value: float) -> Colour:
    sector = int(hue * 6.0) % 6
    fraction = hue * 6.0 - int(hue * 6.0)
    p = value * (1 - saturation)
    q = value * (1 - fraction * saturation)
    t = value * (1 - (1 - fraction) * saturation)
    rgb = [(value, t, p), (q, value, p), (p, value, t), (p, q, value), (t, p, value), (value, p, q)]
    return tuple(float(c) for c in rgb[sector])  # type: ignore[return-value]


def _random_colour(
    rng: np.random.Generator, saturation: tuple[float, float], value: tuple[float, float]
) -> Colour:
    return _hsv_to_rgb(rng.uniform(0, 1), rng.uniform(*saturation), rng.uniform(*value))


def sample_identity(
    seed: int, species: Species | None = None, style: Style = "flat"
) -> PuppetIdentity:
    """A random puppet, the same one for the same arguments."""
    rng = np.random.default_rng([seed, 0x5EED])
    if species is None:
        species = str(rng.choice(["human", "human", "human", "human", "cat", "can"]))  # type: ignore[assignment]
    skin_tones = [(0.95, 0.80, 0.69), (0.87, 0.67, 0.52), (0.67, 0.47, 0.33), (0.45, 0.30, 0.22)]
    if species == "human":
        base = np.array(skin_tones[rng.integers(len(skin_tones))])
        skin = tuple(float(c) for c in np.clip(base + rng.normal(0, 0.04, 3), 0, 1))
        hair = _random_colour(rng, (0.3, 0.9), (0.1, 0.6))
    elif species == "cat":
        skin = _random_colour(rng, (0.2, 0.7), (0.5, 0.95))
        hair = tuple(float(c) * 0.55 for c in skin)
    else:
        skin = _random_colour(rng, (0.5, 0.9), (0.55, 0.95))
        hair = _random_colour(rng, (0.0, 0.2), (0.75, 0.95))
    return PuppetIdentity(
        species=species,  # type: ignore[arg-type]
        style=style,
        head_width=float(rng.uniform(0.62, 0.78) if species != "can" else rng.uniform(0.6, 0.7)),
        head_height=float(rng.uniform(0.78, 0.92) if species != "cat" else rng.uniform(0.7, 0.8)),
        head_squareness=float(
            {"human": rng.uniform(2.0, 2.8), "cat": rng.uniform(2.0, 2.4), "can": 6.0}[species]
        ),
        head_size=float(rng.uniform(0.68, 0.78)),
        skin=skin,  # type: ignore[arg-type]
        hair=hair,  # type: ignore[arg-type]
        hair_style=int(rng.integers(3)),
        hairline=float(rng.uniform(-0.5, -0.35)),
        background=_random_colour(rng, (0.1, 0.6), (0.3, 0.95)),
        background_accent=_random_colour(rng, (0.1, 0.7), (0.2, 0.9)),
        clothing=_random_colour(rng, (0.2, 0.9), (0.15, 0.85)),
        iris=_random_colour(rng, (0.4, 0.9), (0.25, 0.7)),
        lips=tuple(
            float(c) for c in np.clip(np.array(skin) * [0.85, 0.45, 0.45] + [0.1, 0.0, 0.02], 0, 1)
        ),  # type: ignore[arg-type]
        eye_spacing=float(rng.uniform(0.26, 0.34)),
        eye_height=float(rng.uniform(-0.12, -0.02)),
        eye_size=float(rng.uniform(0.10, 0.14) * (1.25 if species == "cat" else 1.0)),
        brow_thickness=float(rng.uniform(0.025, 0.05)),
        nose_length=float(rng.uniform(0.12, 0.2)),
        mouth_height=float(rng.uniform(0.38, 0.48)),
        mouth_width=float(rng.uniform(0.17, 0.25)),
        texture_seed=int(rng.integers(2**31)),
    )
