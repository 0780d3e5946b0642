"""Random thin-plate-spline warps for the keypoint equivariance losses.

A warp maps a point z of the warped frame to the point T(z) of the original frame it shows:
T(z) = A z + b + sum_i w_i U(|z - c_i|), U(r) = r^2 log r, with control points c_i on a
regular grid. Coordinates follow the keypoint convention ([-1, 1], x first, corners on the
outer pixel centres), so frames are resampled with `align_corners=True`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

_EPS = 1e-9


@dataclass(frozen=True)
class ThinPlateSpline:
    """One warp per batch item: affine (B,2,2), offset (B,2), control points (P,2), weights (B,P,2)."""

    affine: torch.Tensor
    offset: torch.Tensor
    control_points: torch.Tensor
    weights: torch.Tensor

    @classmethod
    def identity(cls, batch: int, device: torch.device | str = "cpu") -> ThinPlateSpline:
        return cls(
            affine=torch.eye(2, device=device).expand(batch, 2, 2).clone(),
            offset=torch.zeros(batch, 2, device=device),
            control_points=torch.zeros(1, 2, device=device),
            weights=torch.zeros(batch, 1, 2, device=device),
        )

    @classmethod
    def random(
        cls,
        batch: int,
        sigma_affine: float,
        sigma_tps: float,
        points_tps: int,
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
    ) -> ThinPlateSpline:
        """A random warp near the identity, as in the paper's equivariance training."""

        def normal(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator).to(device)

        affine = torch.eye(2, device=device) + sigma_affine * normal(batch, 2, 2)
        offset = sigma_affine * normal(batch, 2)
        axis = torch.linspace(-1, 1, points_tps, device=device)
        rows, cols = torch.meshgrid(axis, axis, indexing="ij")
        control = torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=1)
        weights = sigma_tps * normal(batch, points_tps * points_tps, 2)
        return cls(affine, offset, control, weights)

    def warp_points(self, points: torch.Tensor) -> torch.Tensor:
        """T(points): (B, N, 2) -> (B, N, 2)."""
        affine = self.affine.to(points.dtype)
        moved = torch.einsum("bij,bnj->bni", affine, points) + self.offset[:, None, :].to(
            points.dtype
        )
        delta = points[:, :, None, :] - self.control_points[None, None].to(points.dtype)  # B,N,P,2
        squared = (delta**2).sum(-1) + _EPS
        kernel = 0.5 * squared * torch.log(squared)  # r^2 log r
        return moved + torch.einsum("bnp,bpi->bni", kernel, self.weights.to(points.dtype))

    def jacobian(self, points: torch.Tensor) -> torch.Tensor:
        """dT/dz at points: (B, N, 2) -> (B, N, 2, 2), rows = output coordinate."""
        delta = points[:, :, None, :] - self.control_points[None, None].to(points.dtype)
        squared = (delta**2).sum(-1) + _EPS
        # d/dz of r^2 log r = (log r^2 + 1) (z - c)
        gradient = (torch.log(squared) + 1)[..., None] * delta  # B,N,P,2
        bend = torch.einsum("bpi,bnpj->bnij", self.weights.to(points.dtype), gradient)
        return self.affine[:, None].to(points.dtype) + bend

    def warp_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Resample (B,C,H,W) frames so that output pixel z shows input point T(z)."""
        batch, _, height, width = frames.shape
        ys = torch.linspace(-1, 1, height, device=frames.device, dtype=frames.dtype)
        xs = torch.linspace(-1, 1, width, device=frames.device, dtype=frames.dtype)
        rows, cols = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack([cols, rows], dim=-1).reshape(1, -1, 2).expand(batch, -1, -1)
        source_points = self.warp_points(grid).reshape(batch, height, width, 2)
        return F.grid_sample(
            frames, source_points, mode="bilinear", padding_mode="reflection", align_corners=True
        )
