"""Checkpoint loading: layouts, configuration inference, mismatch errors, unsafe files."""

from __future__ import annotations

import pickle

import pytest
import torch

from fomm.errors import InputError
from fomm.model.checkpoint import (
    build_networks,
    effective_config,
    expected_shapes,
    infer_config,
    load_model,
    read_checkpoint,
)


def save_tiny(config, path, prefix="", extra=None):
    torch.manual_seed(0)
    kp_detector, generator = build_networks(config)
    checkpoint = {
        "kp_detector": {prefix + k: v for k, v in kp_detector.state_dict().items()},
        "generator": {prefix + k: v for k, v in generator.state_dict().items()},
        "epoch": 3,
        "optimizer_generator": {"state": {}, "param_groups": []},
    }
    checkpoint.update(extra or {})
    torch.save(checkpoint, path)
    return checkpoint


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"estimate_jacobian": False},
        {"single_jacobian_map": True},
        {"occlusion": False},
        {"kp_scale": 1, "dm_scale": 1},
        {"kp_scale": 0.25, "dm_scale": 0.5},
        {"num_down_blocks": 3},
        {"kp_blocks": 3, "dm_blocks": 1},
        {"num_kp": 7},
    ],
)
def test_infers_every_option(make_tiny_config, tmp_path, options):
    config = make_tiny_config(frame_shape=(256, 256), **options)
    save_tiny(config, tmp_path / "model.pth")
    model = load_model(tmp_path / "model.pth")
    assert effective_config(model.config).differences(effective_config(config)) == []
    assert model.published_name is None
    assert not model.generator.training and not model.kp_detector.training


def test_module_prefix_and_outputs_equal(make_tiny_config, tmp_path):
    config = make_tiny_config()
    save_tiny(config, tmp_path / "plain.pth")
    save_tiny(config, tmp_path / "prefixed.pth", prefix="module.")
    plain, prefixed = load_model(tmp_path / "plain.pth"), load_model(tmp_path / "prefixed.pth")
    frame = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(plain.kp_detector(frame)["value"], prefixed.kp_detector(frame)["value"])
    for name, value in plain.generator.state_dict().items():
        assert torch.equal(value, prefixed.generator.state_dict()[name])


def test_published_key_listings_match_published_configs(shared_dir):
    from fomm.config import PUBLISHED_CONFIGS

    for name, config in PUBLISHED_CONFIGS.items():
        listing = {}
        for line in (shared_dir / "spec" / "keys" / f"{name}.txt").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, shape, _ = line.split()
                listing[key] = tuple(int(d) for d in shape.split(",")) if shape != "-" else ()
        ours = {
            f"{network}.{key}": shape
            for network, keys in expected_shapes(config).items()
            for key, shape in keys.items()
        }
        assert ours == listing, name


def test_infers_published_vox_and_mgif(shared_dir):
    from fomm.config import PUBLISHED_CONFIGS
    from fomm.model.blocks import build_antialias_kernel
    from fomm.model.checkpoint import published_matches

    for name in ["vox-256", "mgif-256"]:
        shapes = expected_shapes(PUBLISHED_CONFIGS[name])
        state = {
            network: {
                key: (
                    build_antialias_kernel(shape[0], 0.25)
                    if key.endswith("down.weight")
                    else torch.zeros(shape)
                )
                for key, shape in keys.items()
            }
            for network, keys in shapes.items()
        }
        config = infer_config(state)
        assert config == PUBLISHED_CONFIGS[name]
        assert name in published_matches(config)


def test_yaml_checked_against_weights(shared_dir, tmp_path):
    case = shared_dir / "conformance" / "public"
    model = load_model(case / "modules-tiny" / "model.pth", case / "modules-tiny" / "config.yaml")
    assert model.config.frame_shape == (64, 64)
    with pytest.raises(InputError) as error:
        load_model(
            case / "modules-tiny" / "model.pth", case / "modules-no-jacobian" / "config.yaml"
        )
    message = str(error.value)
    assert "model.pth" in message and "does not fit" in message
    assert "kp_detector.jacobian" in message and "closest published configuration" in message


def test_pad_comes_from_yaml(shared_dir):
    case = shared_dir / "conformance" / "public" / "modules-single-jacobian-pad"
    inferred = load_model(case / "model.pth")
    configured = load_model(case / "model.pth", case / "config.yaml")
    assert inferred.config.kp_detector.pad == 0 and configured.config.kp_detector.pad == 3
    assert configured.config.kp_detector.single_jacobian_map


def test_missing_unexpected_misshaped_keys(make_tiny_config, tmp_path):
    config = make_tiny_config()
    checkpoint = save_tiny(config, tmp_path / "ok.pth")
    missing = {k: dict(v) if isinstance(v, dict) else v for k, v in checkpoint.items()}
    del missing["generator"]["bottleneck.r0.norm2.running_var"]
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(
        InputError, match=r"missing key generator\.bottleneck\.r0\.norm2\.running_var"
    ):
        load_model(tmp_path / "missing.pth")

    extra = {k: dict(v) if isinstance(v, dict) else v for k, v in checkpoint.items()}
    extra["kp_detector"]["surprise.weight"] = torch.zeros(3)
    torch.save(extra, tmp_path / "extra.pth")
    with pytest.raises(InputError, match=r"unexpected key kp_detector\.surprise\.weight.*vox-256"):
        load_model(tmp_path / "extra.pth")

    shaped = {k: dict(v) if isinstance(v, dict) else v for k, v in checkpoint.items()}
    shaped["generator"]["final.bias"] = torch.zeros(5)
    torch.save(shaped, tmp_path / "shaped.pth")
    with pytest.raises(InputError, match=r"generator\.final\.bias has shape \[5\], expected \[3\]"):
        load_model(tmp_path / "shaped.pth")


def test_not_a_torch_file(tmp_path):
    (tmp_path / "text.pth").write_text("hello, not a checkpoint\n")
    with pytest.raises(InputError, match="text.pth: not a PyTorch checkpoint"):
        read_checkpoint(tmp_path / "text.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_checkpoint(tmp_path / "empty.pth")
    with pytest.raises(InputError, match="not found"):
        read_checkpoint(tmp_path / "absent.pth")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(InputError, match="not a FOMM checkpoint"):
        read_checkpoint(tmp_path / "other.pth")


class CreatesFileWhenUnpickled:
    """Unpickling this object would create a file (the attack weights_only must stop)."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickled_object_is_refused_without_running(tmp_path):
    target = tmp_path / "pwned.txt"
    with open(tmp_path / "evil.pth", "wb") as handle:
        torch.save({"generator": {}, "kp_detector": CreatesFileWhenUnpickled(str(target))}, handle)
    assert not target.exists()
    with pytest.raises(InputError, match="refused"):
        read_checkpoint(tmp_path / "evil.pth")
    assert not target.exists()
    # the same object as a plain pickle file is refused too
    with open(tmp_path / "evil.pkl", "wb") as handle:
        pickle.dump(CreatesFileWhenUnpickled(str(target)), handle)
    with pytest.raises(InputError):
        read_checkpoint(tmp_path / "evil.pkl")
    assert not target.exists()


def test_default_checkpoint_missing_is_clear(monkeypatch, tmp_path):
    from fomm.model import checkpoint

    monkeypatch.setattr(checkpoint, "DEFAULT_CHECKPOINT", tmp_path / "default.pth")
    with pytest.raises(InputError, match="default model is not installed"):
        load_model("default")


def test_legacy_format_checkpoint_loads(make_tiny_config, tmp_path):
    """The published files predate the zip format (torch 1.0): they load weights-only too."""
    config = make_tiny_config()
    torch.manual_seed(0)
    kp_detector, generator = build_networks(config)
    checkpoint = {
        "generator": generator.state_dict(),
        "kp_detector": kp_detector.state_dict(),
        "optimizer_generator": {"state": {}, "param_groups": [{"lr": 2e-4, "betas": (0.5, 0.999)}]},
        "epoch": 99,
    }
    torch.save(checkpoint, tmp_path / "legacy.pth.tar", _use_new_zipfile_serialization=False)
    model = load_model(tmp_path / "legacy.pth.tar")
    for name, value in generator.state_dict().items():
        assert torch.equal(model.generator.state_dict()[name], value)


def test_loading_stays_off_symbolic_shapes(make_tiny_config, tmp_path):
    """Building the networks on the meta device (shape checks, loading) must not reach meta
    kernels that import sympy and PyTorch's symbolic shapes: seconds of every cold start."""
    import subprocess
    import sys

    save_tiny(make_tiny_config(), tmp_path / "tiny.pth")
    probe = (
        "import sys, torch\n"
        "before = 'sympy' in sys.modules\n"
        "from fomm.model.checkpoint import load_model\n"
        "load_model(sys.argv[1])\n"
        "print(before, 'sympy' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "tiny.pth")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    before, after = done.stdout.split()
    if before == "True":
        pytest.skip("this torch imports sympy by itself")
    assert after == "False"
