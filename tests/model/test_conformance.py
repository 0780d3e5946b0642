"""The networks reproduce the original's tensors on every case of the public kit."""

from __future__ import annotations

import shutil

import pytest

from fomm.engine.conformance import run_kit


def test_public_kit_passes(shared_dir):
    kit = shared_dir / "conformance" / "public"
    results = list(run_kit(kit))
    assert len(results) >= 13
    failures = [
        (
            case.name,
            case.error,
            [(a.name, a.max_abs_diff, a.tolerance) for a in case.arrays if not a.passed],
        )
        for case in results
        if not case.passed
    ]
    assert not failures
    kinds = {case.kind for case in results}
    assert kinds == {"modules", "animation", "resize"}


def test_tampered_expected_array_fails(shared_dir, tmp_path):
    """A kit whose expected prediction is shifted must fail (the runner can fail)."""
    import numpy as np

    case = shared_dir / "conformance" / "public" / "modules-tiny"
    copy = tmp_path / "kit" / "modules-tiny"
    shutil.copytree(case, copy)
    shutil.copy(shared_dir / "conformance" / "make_checkpoint.py", tmp_path / "make_checkpoint.py")
    with np.load(copy / "expected.npz") as data:
        arrays = {name: data[name] for name in data.files}
    arrays["prediction"] = arrays["prediction"] + 1e-3
    np.savez(copy / "expected.npz", **arrays)
    (result,) = run_kit(tmp_path / "kit")
    assert not result.passed
    bad = [a.name for a in result.arrays if not a.passed]
    assert bad == ["prediction"]


def test_rebuilds_weights_without_checkpoint_file(shared_dir, tmp_path):
    """Without model.pth the weights come from the kit's make_checkpoint.py, in memory."""
    import json

    case = shared_dir / "conformance" / "public" / "modules-no-jacobian"
    copy = tmp_path / "kit" / "modules-no-jacobian"
    shutil.copytree(case, copy)
    (copy / "model.pth").unlink()
    meta = json.loads((copy / "case.json").read_text())
    meta.pop("checkpoint_file")
    (copy / "case.json").write_text(json.dumps(meta))
    shutil.copy(shared_dir / "conformance" / "make_checkpoint.py", tmp_path / "make_checkpoint.py")
    before = sorted(p.name for p in copy.iterdir())
    (result,) = run_kit(tmp_path / "kit")
    assert result.passed, result
    assert sorted(p.name for p in copy.iterdir()) == before


@pytest.mark.parametrize("missing", ["nothing-here"])
def test_cli_rejects_missing_kit(fomm_cli, tmp_path, missing):
    result = fomm_cli("conformance", tmp_path / missing)
    assert result.returncode == 2
    assert "fomm: error:" in result.stderr and missing in result.stderr
