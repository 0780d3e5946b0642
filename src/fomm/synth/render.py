"""Draw puppets: signed-distance shapes with analytic anti-aliasing, vectorised over frames.

Frame coordinates run from -1 to 1 across the picture (x right, y down). A head is drawn in
its own "head units": frame offset from the head centre, rotated back, divided by
`head_size * scale`. The head outline is about `head_width` x `head_height` head units.
"""

from __future__ import annotations

import numpy as np

from fomm.synth.identity import PuppetIdentity
from fomm.synth.motion import Motion

_HEAD_CENTRE_Y = -0.08
_FRAMES_PER_CHUNK = 16


def coverage(distance: np.ndarray, pixel: np.ndarray | float) -> np.ndarray:
    """Anti-aliased fill: 1 inside, 0 outside, linear across one pixel of the edge."""
    return np.clip(0.5 - distance / pixel, 0.0, 1.0)


def ellipse_distance(x: np.ndarray, y: np.ndarray, rx, ry) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse centred at the origin.

    First-order: the implicit function divided by its gradient length, so thin ellipses
    keep a one-pixel edge along their whole outline.
    """
    return superellipse_distance(x, y, rx, ry, 2.0)


def superellipse_distance(x, y, rx, ry, power: float) -> np.ndarray:
    """Approximate signed distance to |x/rx|^p + |y/ry|^p = 1 (first-order, as above)."""
    ax = np.abs(x / rx) + 1e-9
    ay = np.abs(y / ry) + 1e-9
    radius = (ax**power + ay**power) ** (1.0 / power)
    # Gradient of the radius: (ax/radius)^(p-1) / rx along x, likewise along y.
    gx = (ax / radius) ** (power - 1) / rx
    gy = (ay / radius) ** (power - 1) / ry
    return (radius - 1.0) / np.sqrt(gx * gx + gy * gy)


def polygon_distance(x: np.ndarray, y: np.ndarray, vertices: list[tuple[float, float]]):
    """Signed distance (exact near edges) to a convex polygon given counter-clockwise in y-down."""
    distance = None
    count = len(vertices)
    for i in range(count):
        (x0, y0), (x1, y1) = vertices[i], vertices[(i + 1) % count]
        ex, ey = x1 - x0, y1 - y0
        length = np.hypot(ex, ey)
        outward = ((x - x0) * ey - (y - y0) * ex) / length
        distance = outward if distance is None else np.maximum(distance, outward)
    return distance


def segment_distance(x, y, start: tuple[float, float], end: tuple[float, float]) -> np.ndarray:
    (x0, y0), (x1, y1) = start, end
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy), 0, 1)
    return np.hypot(x - x0 - t * dx, y - y0 - t * dy)


def wave_texture(
    x: np.ndarray, y: np.ndarray, seed: int, count: int, frequency: tuple[float, float]
):
    """Smooth pseudo-random texture in about [-1, 1]: a sum of plane waves."""
    rng = np.random.default_rng([seed, count])
    angles = rng.uniform(0, np.pi, count)
    freqs = rng.uniform(*frequency, count)
    phases = rng.uniform(0, 2 * np.pi, count)
    total = 0.0
    for angle, freq, phase in zip(angles, freqs, phases):
        total = total + np.sin(freq * (np.cos(angle) * x + np.sin(angle) * y) + phase)
    return total * np.float32(np.sqrt(2.0 / count))


def _paint(canvas: np.ndarray, alpha: np.ndarray, colour) -> None:
    """Composite `colour` (RGB triple or per-pixel RGB) over `canvas` in place."""
    alpha = alpha[..., None]
    canvas *= 1.0 - alpha
    canvas += alpha * np.asarray(colour, dtype=np.float32)


def _background(identity: PuppetIdentity, ux: np.ndarray, uy: np.ndarray) -> np.ndarray:
    seed = identity.texture_seed
    base = np.asarray(identity.background, np.float32)
    accent = np.asarray(identity.background_accent, np.float32)
    gradient = (0.5 + 0.25 * (uy + 0.3 * ux))[..., None]
    canvas = base * (1.15 - 0.3 * gradient) + np.zeros_like(ux)[..., None]
    pattern = seed % 3
    if pattern == 0:  # soft blobs
        blend = 0.5 + 0.5 * wave_texture(ux, uy, seed, 6, (1.5, 4.0))
        _paint(canvas, np.clip(blend, 0, 1) * 0.6, accent)
    elif pattern == 1:  # stripes
        angle = (seed % 7) * 0.4
        stripes = np.sin(7.0 * (np.cos(angle) * ux + np.sin(angle) * uy))
        _paint(canvas, coverage(-stripes, 0.15) * 0.45, accent)
    else:  # window-like panel
        panel = superellipse_distance(ux + 0.55, uy + 0.45, 0.35, 0.4, 6.0)
        _paint(canvas, coverage(panel, 0.03) * 0.7, accent)
    canvas *= 1.0 + 0.05 * wave_texture(ux, uy, seed + 1, 8, (8.0, 20.0))[..., None]
    return canvas


def _head_frame(identity: PuppetIdentity, motion: Motion, ux, uy, size: int):
    """Head units for every pixel, and the size of one pixel in head units."""

    def column(values):
        return np.asarray(values, np.float32)[:, None, None]

    angle = column(motion.rotation)
    units = column(motion.scale) * identity.head_size
    dx = ux[None] - column(motion.translation_x)
    dy = uy[None] - (_HEAD_CENTRE_Y + column(motion.translation_y))
    cos, sin = np.cos(angle), np.sin(angle)
    hx = (cos * dx + sin * dy) / units
    hy = (-sin * dx + cos * dy) / units
    pixel = (2.0 / size) / units
    return hx, hy, pixel


def _draw_chunk(identity: PuppetIdentity, motion: Motion, size: int, background) -> np.ndarray:
    frames = len(motion)
    axis = (np.arange(size, dtype=np.float32) * 2 + 1) / size - 1
    uy, ux = np.meshgrid(axis, axis, indexing="ij")
    canvas = np.repeat(background[None], frames, axis=0)
    hx, hy, px = _head_frame(identity, motion, ux, uy, size)
    yaw = np.asarray(motion.yaw, np.float32)[:, None, None]
    species = identity.species
    skin = np.asarray(identity.skin, np.float32)
    hair = np.asarray(identity.hair, np.float32)
    width, height = identity.head_width, identity.head_height
    seed = identity.texture_seed

    # Body: follows the head's translation loosely, does not rotate.
    bx = ux[None] - 0.6 * np.asarray(motion.translation_x, np.float32)[:, None, None]
    by = uy[None] - 1.12 - 0.4 * np.asarray(motion.translation_y, np.float32)[:, None, None]
    body = ellipse_distance(bx, by, 0.85, 0.42)
    if species != "can":
        neck = superellipse_distance(hx, hy - 1.0, 0.32, 0.75, 4.0)
        _paint(canvas, coverage(neck, px), skin * 0.82)
    _paint(canvas, coverage(body, 2.0 / size), identity.clothing)
    collar = ellipse_distance(bx, by + 0.3, 0.3, 0.12)
    _paint(canvas, coverage(collar, 2.0 / size) * 0.6, np.asarray(identity.clothing) * 0.6)

    # Yaw squashes the outline a little and slides the face features sideways.
    outline_x = hx / (1 - 0.08 * np.abs(yaw))
    feature_x = (hx - 0.2 * yaw) / (1 - 0.18 * np.abs(yaw))
    nose_x = hx - 0.32 * yaw

    if species == "human" and identity.hair_style == 1:
        long_hair = superellipse_distance(hx, hy - 0.25, width * 1.22, height * 1.25, 2.2)
        _paint(canvas, coverage(long_hair, px), hair * 0.9)
    if species == "human":
        for side in (-1, 1):
            ear = ellipse_distance(outline_x - side * width * 0.98, hy - 0.02, 0.11, 0.17)
            _paint(canvas, coverage(ear, px), skin * 0.88)
    elif species == "cat":
        for side in (-1, 1):
            tip = (side * 0.78 * width, -1.32 * height)
            outer = [
                (side * 0.2 * width, -0.8 * height),
                tip,
                (side * 0.95 * width, -0.45 * height),
            ]
            if side < 0:
                outer = outer[::-1]
            _paint(canvas, coverage(polygon_distance(outline_x, hy, outer), px), hair)
            inner = [
                (0.35 * a + 0.65 * b, 0.35 * c + 0.65 * d)
                for (a, c), (b, d) in zip(outer, [tip] * 3)
            ]
            centre = (sum(p[0] for p in outer) / 3, sum(p[1] for p in outer) / 3)
            inner = [(0.55 * x + 0.45 * centre[0], 0.55 * y + 0.45 * centre[1]) for x, y in outer]
            _paint(canvas, coverage(polygon_distance(outline_x, hy, inner), px), (0.95, 0.65, 0.7))

    # Head: a superellipse, narrower at the jaw for humans, shaded darker towards the rim.
    jaw = 1 - (0.14 if species == "human" else 0.05) * np.clip(hy / height, 0, 1)
    head_distance = superellipse_distance(
        outline_x / jaw, hy, width, height, identity.head_squareness
    )
    head_alpha = coverage(head_distance, px)
    rim = np.clip(1 + head_distance / 0.25, 0, 1)
    texture = wave_texture(hx, hy, seed + 2, 6, (6.0, 14.0))
    if species == "can":
        band = coverage(np.abs(hy) - 0.32, px)
        colour = skin * (1 - band[..., None]) + hair * band[..., None]
        shine = 0.7 + 0.45 * np.cos(np.clip(outline_x / width, -1, 1) * 1.5 - 0.4)
        colour = colour * shine[..., None]
        ridges = coverage(np.abs(np.abs(hy) - 0.72) - 0.03, px) * 0.5
        colour = colour * (1 - 0.35 * ridges[..., None])
    else:
        colour = skin * (1 - 0.22 * rim**2 + 0.03 * texture)[..., None]
        if species == "cat":
            stripes = np.sin(14 * outline_x + 2 * np.sin(seed)) > 0.4
            forehead = coverage(hy + 0.45 * height, px)
            colour = colour * (1 - 0.35 * (stripes * forehead)[..., None])
    _paint(canvas, head_alpha, np.clip(colour, 0, 1))
    edge = coverage(np.abs(head_distance) - 0.012, px) * 0.35
    _paint(canvas, edge, skin * 0.5)

    if species == "human" and identity.hair_style != 2:
        wave = 0.05 * np.sin(9 * outline_x + seed % 5)
        cap = superellipse_distance(outline_x / jaw, hy, width * 1.06, height * 1.06, 2.3)
        below_line = hy - (identity.hairline * height + wave - 0.15 * outline_x**2)
        hair_distance = np.maximum(cap, below_line)
        strands = 1 + 0.12 * wave_texture(hx * 3, hy, seed + 3, 4, (6.0, 12.0))
        _paint(canvas, coverage(hair_distance, px), np.clip(hair * strands[..., None], 0, 1))
    elif species == "human":
        bun = ellipse_distance(outline_x, hy + height * 1.05, 0.25, 0.2)
        _paint(canvas, coverage(bun, px), hair)

    _draw_eyes(canvas, identity, motion, feature_x, hy, px)
    _draw_nose(canvas, identity, nose_x, hy, px)
    _draw_mouth(canvas, identity, motion, (hx - 0.26 * yaw) / (1 - 0.12 * np.abs(yaw)), hy, px)
    if species == "cat":
        for side in (-1, 1):
            for tilt in (-0.1, 0.0, 0.1):
                start = (side * 0.12, identity.mouth_height - 0.12 + tilt * 0.3)
                end = (side * 0.62, identity.mouth_height - 0.2 + tilt * 1.5)
                whisker = segment_distance(nose_x, hy, start, end) - 0.008
                _paint(canvas, coverage(whisker, px) * 0.8, (0.15, 0.12, 0.1))
    return canvas


def _draw_eyes(canvas, identity: PuppetIdentity, motion: Motion, fx, hy, px) -> None:
    def column(values):
        return np.asarray(values, np.float32)[:, None, None]

    blink, gaze_x, gaze_y = column(motion.blink), column(motion.gaze_x), column(motion.gaze_y)
    brows = column(motion.brows)
    skin = np.asarray(identity.skin, np.float32)
    radius_x = identity.eye_size
    radius_y = identity.eye_size * (0.75 if identity.species == "cat" else 0.6)
    for side in (-1, 1):
        ex = fx - side * identity.eye_spacing
        ey = hy - identity.eye_height
        sclera = ellipse_distance(ex, ey, radius_x, radius_y)
        sclera_alpha = coverage(sclera, px)
        white = (0.85, 0.95, 0.55) if identity.species == "cat" else (0.97, 0.96, 0.93)
        _paint(canvas, sclera_alpha, white)
        iris_r = radius_y * 0.85
        cx, cy = gaze_x * radius_x * 0.45, gaze_y * radius_y * 0.3
        iris = ellipse_distance(ex - cx, ey - cy, iris_r, iris_r)
        _paint(canvas, coverage(iris, px) * sclera_alpha, identity.iris)
        if identity.species == "cat":
            pupil = ellipse_distance(ex - cx, ey - cy, iris_r * 0.22, iris_r * 0.9)
        else:
            pupil = ellipse_distance(ex - cx, ey - cy, iris_r * 0.48, iris_r * 0.48)
        _paint(canvas, coverage(pupil, px) * sclera_alpha, (0.03, 0.03, 0.04))
        shine = ellipse_distance(
            ex - cx + 0.3 * iris_r, ey - cy + 0.3 * iris_r, 0.2 * iris_r, 0.2 * iris_r
        )
        _paint(canvas, coverage(shine, px) * sclera_alpha, (1.0, 1.0, 1.0))
        # The upper lid comes down from the top of the eye as it blinks.
        lid_line = radius_y * (-1.0 + 2.1 * blink)
        lid = coverage(ey - lid_line, px) * coverage(sclera - 0.004, px)
        _paint(canvas, lid, skin * 0.92)
        lash = coverage(np.abs(ey - lid_line) - 0.014, px) * coverage(sclera - 0.02, px)
        _paint(canvas, lash, (0.1, 0.07, 0.07))
        outline = coverage(np.abs(sclera) - 0.01, px)
        _paint(canvas, outline * 0.8, (0.15, 0.1, 0.1))
        if identity.species != "cat":
            centre_y = -radius_y - 0.07 - 0.09 * brows
            bend = ey - centre_y - 0.6 * ex**2 / max(identity.eye_size, 1e-3)
            brow = np.maximum(np.abs(bend) - identity.brow_thickness, np.abs(ex) - radius_x * 1.25)
            colour = np.asarray(identity.hair, np.float32) * 0.7
            if identity.species == "can":
                colour = np.array([0.12, 0.12, 0.14], np.float32)
            _paint(canvas, coverage(brow, px), colour)


def _draw_nose(canvas, identity: PuppetIdentity, nx, hy, px) -> None:
    tip_y = identity.eye_height + identity.nose_length + 0.08
    skin = np.asarray(identity.skin, np.float32)
    if identity.species == "human":
        bridge = np.maximum(segment_distance(nx, hy, (0.0, tip_y - 0.18), (0.0, tip_y)) - 0.045, -1)
        _paint(canvas, coverage(bridge, px) * 0.25, skin * 0.7)
        tip = ellipse_distance(nx, hy - tip_y, 0.08, 0.055)
        _paint(canvas, coverage(tip, px), skin * 0.86)
        for side in (-1, 1):
            nostril = ellipse_distance(nx - side * 0.035, hy - tip_y - 0.02, 0.022, 0.014)
            _paint(canvas, coverage(nostril, px), skin * 0.35)
    elif identity.species == "cat":
        triangle = [(-0.07, tip_y - 0.04), (0.07, tip_y - 0.04), (0.0, tip_y + 0.04)][::-1]
        _paint(canvas, coverage(polygon_distance(nx, hy, triangle), px), (0.9, 0.5, 0.55))
    else:
        rivet = ellipse_distance(nx, hy - tip_y, 0.045, 0.045)
        _paint(canvas, coverage(rivet, px), (0.75, 0.75, 0.78))
        _paint(canvas, coverage(np.abs(rivet) - 0.006, px), (0.3, 0.3, 0.32))


def _draw_mouth(canvas, identity: PuppetIdentity, motion: Motion, mx, hy, px) -> None:
    opening = np.asarray(motion.mouth, np.float32)[:, None, None]
    my = hy - identity.mouth_height - 0.04 * opening
    width = identity.mouth_width * (1 + 0.08 * opening)
    if identity.species == "can":
        hole = superellipse_distance(mx, my, width, 0.012 + 0.13 * opening, 4.0)
        _paint(canvas, coverage(hole - 0.018, px), (0.25, 0.25, 0.27))
        _paint(canvas, coverage(hole, px), (0.04, 0.02, 0.02))
        return
    lips = ellipse_distance(mx, my, width, 0.04 + 0.13 * opening)
    lip_colour = identity.lips if identity.species == "human" else np.asarray(identity.skin) * 0.6
    _paint(canvas, coverage(lips, px), lip_colour)
    inner_height = 0.008 + 0.115 * opening
    inner = ellipse_distance(mx, my, width * 0.8, inner_height)
    inner_alpha = coverage(inner, px)
    _paint(canvas, inner_alpha, (0.22, 0.04, 0.06))
    teeth = coverage(my + inner_height * 0.45, px) * inner_alpha * np.clip(opening * 3, 0, 1)
    _paint(canvas, teeth, (0.95, 0.94, 0.88))
    tongue = ellipse_distance(mx, my - inner_height * 0.9, width * 0.5, inner_height * 0.6)
    _paint(canvas, coverage(tongue, px) * inner_alpha, (0.75, 0.3, 0.32))


def _stylise_painting(frames: np.ndarray, seed: int) -> np.ndarray:
    """Brush strokes, flattened colours and canvas weave, like an oil painting."""
    size = frames.shape[1]
    axis = (np.arange(size, dtype=np.float32) * 2 + 1) / size - 1
    uy, ux = np.meshgrid(axis, axis, indexing="ij")
    strokes = wave_texture(ux * 1.0 + 0.3 * uy, uy * 6.0, seed + 9, 10, (6.0, 16.0))
    levels = 9.0
    flattened = np.round(frames * levels) / levels
    frames = 0.55 * frames + 0.45 * flattened
    frames = frames * (1 + 0.07 * strokes)[None, ..., None]
    weave = np.sin(np.pi * size * 0.5 * ux) * np.sin(np.pi * size * 0.5 * uy)
    frames = frames * (1 + 0.025 * weave)[None, ..., None]
    varnish = np.array([1.04, 1.0, 0.86], np.float32)
    return frames * varnish


def render_frames(identity: PuppetIdentity, motion: Motion, size: int = 64) -> np.ndarray:
    """(frames, size, size, 3) uint8: `identity` moving with `motion`."""
    axis = (np.arange(size, dtype=np.float32) * 2 + 1) / size - 1
    uy, ux = np.meshgrid(axis, axis, indexing="ij")
    background = _background(identity, ux, uy).astype(np.float32)
    out = np.empty((len(motion), size, size, 3), np.uint8)
    for start in range(0, len(motion), _FRAMES_PER_CHUNK):
        chunk = motion.slice(start, start + _FRAMES_PER_CHUNK)
        frames = _draw_chunk(identity, chunk, size, background)
        if identity.style == "painting":
            frames = _stylise_painting(frames, identity.texture_seed)
        out[start : start + len(chunk)] = np.clip(frames * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def landmark_positions(identity: PuppetIdentity, motion: Motion) -> np.ndarray:
    """(frames, 5, 2) frame coordinates (x, y) of the eyes, nose tip, mouth and chin.

    The true trajectories of rigid face points, for judging detected keypoints.
    """
    yaw = np.asarray(motion.yaw, np.float64)[:, None]
    squash = 1 - 0.18 * np.abs(yaw)
    head_x = np.concatenate(
        [
            -identity.eye_spacing * squash + 0.2 * yaw,
            identity.eye_spacing * squash + 0.2 * yaw,
            0.32 * yaw,
            0.26 * yaw,
            np.zeros_like(yaw),
        ],
        axis=1,
    )
    tip_y = identity.eye_height + identity.nose_length + 0.08
    head_y = np.array(
        [
            identity.eye_height,
            identity.eye_height,
            tip_y,
            identity.mouth_height,
            identity.head_height,
        ]
    )[None, :]
    angle = np.asarray(motion.rotation, np.float64)[:, None]
    units = np.asarray(motion.scale, np.float64)[:, None] * identity.head_size
    x = units * (np.cos(angle) * head_x - np.sin(angle) * head_y)
    y = units * (np.sin(angle) * head_x + np.cos(angle) * head_y)
    x = x + np.asarray(motion.translation_x)[:, None]
    y = y + _HEAD_CENTRE_Y + np.asarray(motion.translation_y)[:, None]
    return np.stack([x, y], axis=-1)
