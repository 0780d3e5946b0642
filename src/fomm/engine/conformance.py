"""Run a conformance kit: every case directory with a case.json, compared per array.

Kinds: `modules` (one batched call of each network), `animation` (the reference demo's
frame loop, relative/absolute/adapt-scale/best frame) and `resize` (input preparation).
Weights come from the case's `checkpoint_file` when present, else are rebuilt in memory by
the kit's own `make_checkpoint.py` (looked up in the case folder and its parents). The kit
is only read, never written.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from fomm.errors import FommError, InputError


@dataclass(frozen=True)
class ArrayResult:
    name: str
    max_abs_diff: float
    tolerance: float
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class CaseResult:
    name: str
    kind: str
    arrays: list[ArrayResult] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.arrays) and all(a.passed for a in self.arrays)


def find_cases(kit: Path) -> list[Path]:
    """Case folders of a kit (the kit itself when it is a single case)."""
    if (kit / "case.json").is_file():
        return [kit]
    return sorted(p for p in kit.iterdir() if (p / "case.json").is_file())


def find_make_checkpoint(case: Path) -> ModuleType:
    """Import the kit's make_checkpoint.py from the case folder or one of its parents."""
    for folder in [case, *case.resolve().parents]:
        script = folder / "make_checkpoint.py"
        if script.is_file():
            spec = importlib.util.spec_from_file_location(f"_fomm_kit_{abs(hash(script))}", script)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise InputError(case, "no make_checkpoint.py in the case folder or its parents")


def load_case_model(case: Path, meta: dict[str, Any]):
    """The LoadedModel of a case: its checkpoint file, else weights rebuilt in memory."""
    from fomm.model.checkpoint import (
        load_config_yaml,
        load_model,
        load_state_dicts,
        split_state_dicts,
    )

    config_path = case / "config.yaml"
    if meta.get("checkpoint_file"):
        return load_model(case / meta["checkpoint_file"], config_path)
    builder = find_make_checkpoint(case)
    keys = (case / meta["keys"]).resolve()
    cwd = os.getcwd()
    try:
        os.chdir(case)  # the recipe's relative paths are relative to the case folder
        checkpoint = builder.make_checkpoint(str(keys), "config.yaml", int(meta["seed"]))
    finally:
        os.chdir(cwd)
    state_dicts = split_state_dicts(checkpoint, str(case))
    return load_state_dicts(
        state_dicts, load_config_yaml(config_path), source=str(case), config_source=str(config_path)
    )


def compare_float(
    name: str, actual: np.ndarray, expected: np.ndarray, tolerance: float
) -> ArrayResult:
    if actual.shape != expected.shape:
        return ArrayResult(
            name, float("inf"), tolerance, False, f"shape {actual.shape} != {expected.shape}"
        )
    diff = float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64))))
    return ArrayResult(name, diff, tolerance, bool(diff <= tolerance))


def compare_uint8(
    name: str, actual: np.ndarray, expected: np.ndarray, rule: dict[str, float]
) -> ArrayResult:
    if actual.shape != expected.shape:
        return ArrayResult(name, float("inf"), rule["max_abs"], False, "shape mismatch")
    diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
    equal = float(np.mean(diff == 0))
    passed = int(diff.max()) <= rule["max_abs"] and equal >= rule["min_equal_fraction"]
    return ArrayResult(
        name, float(diff.max()), rule["max_abs"], passed, f"equal fraction {equal:.5f}"
    )


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """skimage.img_as_ubyte for float32: rint(x * 255) (half to even), clipped to 0..255."""
    scaled = np.rint(frames.astype(np.float32) * np.float32(255))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def run_modules(case: Path, meta: dict[str, Any], inputs: Any) -> dict[str, np.ndarray]:
    import torch

    model = load_case_model(case, meta)
    source = torch.from_numpy(inputs["source"])
    driving = torch.from_numpy(inputs["driving"])
    with torch.inference_mode():
        kp_source = model.kp_detector(source)
        kp_driving = model.kp_detector(driving)
        out = model.generator(source, kp_source, kp_driving)
    arrays = {
        "kp_source_value": kp_source["value"],
        "kp_driving_value": kp_driving["value"],
    }
    if "jacobian" in kp_source:
        arrays["kp_source_jacobian"] = kp_source["jacobian"]
        arrays["kp_driving_jacobian"] = kp_driving["jacobian"]
    for name in (
        "mask",
        "sparse_deformed",
        "occlusion_map",
        "deformed",
        "prediction",
        "deformation",
    ):
        if name in out:
            arrays[name] = out[name]
    result = {name: value.numpy() for name, value in arrays.items()}
    result["frames_uint8"] = to_uint8(result["prediction"].transpose(0, 2, 3, 1))
    return result


def run_animation(case: Path, meta: dict[str, Any], inputs: Any) -> dict[str, np.ndarray]:
    from fomm.engine.animate import AnimationOptions, animate_arrays

    model = load_case_model(case, meta)
    options = meta.get("options", {})
    settings = AnimationOptions(
        mode="relative" if options.get("relative") else "absolute",
        adapt_scale=bool(options.get("adapt_scale")),
        best_frame=options.get("best_frame"),
        device="cpu",
        batch_size=4,
    )
    driving = inputs["driving_video"]
    predictions = np.stack(list(animate_arrays(model, inputs["source_image"], driving, settings)))
    return {"predictions": predictions, "frames_uint8": to_uint8(predictions)}


def run_resize(case: Path, meta: dict[str, Any], inputs: Any) -> dict[str, np.ndarray]:
    from fomm.media.resize import resize_for_model

    size = tuple(meta.get("options", {}).get("size", (256, 256)))
    source = resize_for_model(inputs["source_rgba_uint8"], size)
    driving = np.stack([resize_for_model(frame, size) for frame in inputs["driving_uint8"]])
    return {"source_resized": source, "driving_resized": driving}


RUNNERS: dict[str, Callable[[Path, dict[str, Any], Any], dict[str, np.ndarray]]] = {
    "modules": run_modules,
    "animation": run_animation,
    "resize": run_resize,
}


def run_case(case: Path) -> CaseResult:
    """Compute one case and compare every expected array with its tolerance."""
    try:
        meta = json.loads((case / "case.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        return CaseResult(case.name, "?", error=f"unreadable case.json ({error})")
    kind = meta.get("kind", "?")
    runner = RUNNERS.get(kind)
    if runner is None:
        return CaseResult(case.name, kind, error=f"unknown kind {kind!r}")
    try:
        with (
            np.load(case / "inputs.npz") as inputs_file,
            np.load(case / "expected.npz") as expected_file,
        ):
            inputs = {name: inputs_file[name] for name in inputs_file.files}
            expected = {name: expected_file[name] for name in expected_file.files}
        actual = runner(case, meta, inputs)
    except FommError as error:
        return CaseResult(case.name, kind, error=str(error))
    tolerances = meta.get("tolerance", {})
    results = []
    for name, wanted in expected.items():
        rule = tolerances.get(name, 1e-5)
        if name not in actual:
            results.append(ArrayResult(name, float("inf"), 0.0, False, "not computed"))
        elif isinstance(rule, dict):
            results.append(compare_uint8(name, actual[name], wanted, rule))
        else:
            results.append(compare_float(name, actual[name], wanted, float(rule)))
    return CaseResult(case.name, kind, results)


def run_kit(kit: str | os.PathLike) -> Iterator[CaseResult]:
    """Run every case of a kit folder, yielding results as they finish."""
    kit = Path(kit)
    if not kit.is_dir():
        raise InputError(kit, "conformance kit folder not found")
    cases = find_cases(kit)
    if not cases:
        raise InputError(kit, "no case folders (with case.json) in this kit")
    for case in cases:
        yield run_case(case)
