"""`fomm inspect` and `fomm conformance` on the command line."""

from __future__ import annotations

import json


def test_inspect_json(fomm_cli, shared_dir):
    case = shared_dir / "conformance" / "public" / "modules-single-jacobian-pad"
    result = fomm_cli("inspect", case / "model.pth", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    params = summary["config"]["model_params"]
    assert params["common_params"]["num_kp"] == 5
    assert params["kp_detector_params"]["single_jacobian_map"] is True
    assert summary["published_config"] is None
    assert summary["parameters"]["total"] == (
        summary["parameters"]["kp_detector"] + summary["parameters"]["generator"]
    )


def test_inspect_text_and_bad_file(fomm_cli, shared_dir, tmp_path):
    case = shared_dir / "conformance" / "public" / "modules-tiny"
    result = fomm_cli("inspect", case / "model.pth", "--config", case / "config.yaml")
    assert result.returncode == 0 and "num_kp: 5" in result.stdout
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00garbage")
    result = fomm_cli("inspect", bad)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if line.startswith("fomm: error:")
    ]
    assert str(bad) in result.stderr


def test_conformance_cli_one_case(fomm_cli, shared_dir):
    result = fomm_cli("conformance", shared_dir / "conformance" / "public" / "modules-tiny")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS modules-tiny" in result.stdout and "prediction" in result.stdout
