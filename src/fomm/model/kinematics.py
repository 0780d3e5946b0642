"""Keypoint transfer between driving and source: absolute, relative, relative + adapt scale."""

from __future__ import annotations

import math

import numpy as np
import torch

Keypoints = dict[str, torch.Tensor]


def full_precision(like: torch.Tensor) -> torch.autocast:
    """Autocast off on `like`'s device: the keypoint geometry (2x2 jacobians, their inverses,
    the per-keypoint sampling grids) stays float32 under fp16/bf16 inference, as in the
    original, where a half-precision matrix product would feed `torch.inverse`, which has no
    half-precision kernel on CUDA."""
    return torch.autocast(device_type=like.device.type, enabled=False)


def unhalved(tensor: torch.Tensor) -> torch.Tensor:
    """fp16/bf16 -> float32; float32 and float64 as they are."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def apply_2x2(matrices: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """matrices (..., 2, 2) times vectors (..., 2), broadcast, as two multiply-adds per row:
    a batched matmul of 2x2 matrices runs as millions of tiny products (on CUDA 12% of a
    compiled fp16 batch)."""
    x, y = vectors[..., 0], vectors[..., 1]
    rows = [matrices[..., row, 0] * x + matrices[..., row, 1] * y for row in (0, 1)]
    return torch.stack(rows, dim=-1)


def convex_hull_area(points: np.ndarray) -> float:
    """Area of the 2-D convex hull of (N, 2) points (monotone chain, float64)."""
    pts = sorted(map(tuple, np.asarray(points, dtype=np.float64).tolist()))
    if len(pts) < 3:
        return 0.0

    def cross(o: tuple, a: tuple, b: tuple) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def half(sequence: list) -> list:
        chain: list = []
        for p in sequence:
            while len(chain) >= 2 and cross(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
        return chain[:-1]

    hull = half(pts) + half(pts[::-1])
    area = 0.0
    for (x0, y0), (x1, y1) in zip(hull, hull[1:] + hull[:1]):
        area += x0 * y1 - x1 * y0
    return abs(area) / 2


def adapt_movement_scale(kp_source: Keypoints, kp_driving_initial: Keypoints) -> float:
    """sqrt(hull area of the source keypoints) / sqrt(hull area of the initial driving ones)."""
    source_area = convex_hull_area(kp_source["value"][0].detach().float().cpu().numpy())
    driving_area = convex_hull_area(kp_driving_initial["value"][0].detach().float().cpu().numpy())
    if driving_area <= 0:
        return 1.0
    return math.sqrt(source_area) / math.sqrt(driving_area)


def initial_jacobian_inverse_of(kp_driving_initial: Keypoints) -> torch.Tensor | None:
    """inv(Jd0) in float32 (None without jacobians), for `normalize_kp`."""
    if "jacobian" not in kp_driving_initial:
        return None
    with full_precision(kp_driving_initial["jacobian"]):
        return torch.inverse(unhalved(kp_driving_initial["jacobian"]))


def normalize_kp(
    kp_source: Keypoints,
    kp_driving: Keypoints,
    kp_driving_initial: Keypoints,
    relative: bool = True,
    adapt_scale: bool = False,
    scale: float | None = None,
    initial_jacobian_inverse: torch.Tensor | None = None,
) -> Keypoints:
    """Driving keypoints to feed the generator.

    absolute: the driving keypoints as they are. relative: value = kps + (kpd - kpd0) * scale
    and jacobian = (Jd @ inv(Jd0)) @ Js; without jacobians only values move. `scale` and
    inv(Jd0) (`initial_jacobian_inverse_of`) may be passed precomputed: they depend on the
    source and the initial frame only.
    """
    if not relative:
        return dict(kp_driving)
    if scale is None:
        scale = adapt_movement_scale(kp_source, kp_driving_initial) if adapt_scale else 1.0
    difference = kp_driving["value"] - kp_driving_initial["value"]
    difference = difference * scale
    result = {"value": difference + kp_source["value"]}
    if "jacobian" in kp_driving and "jacobian" in kp_source:
        if initial_jacobian_inverse is None:
            initial_jacobian_inverse = initial_jacobian_inverse_of(kp_driving_initial)
        with full_precision(kp_driving["jacobian"]):
            jacobian_change = torch.matmul(
                unhalved(kp_driving["jacobian"]), initial_jacobian_inverse
            )
            result["jacobian"] = torch.matmul(jacobian_change, unhalved(kp_source["jacobian"]))
    return result
