"""Workflow checks that need no model run: lint, format, dry runs, schema, naming, builders."""

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_support import REPO, make_workdir, run_snakemake, workflow_config


def planned_outputs(workdir: Path, *args: str) -> set[str]:
    """Every file the workflow would make, from `snakemake --summary`."""
    result = run_snakemake(workdir, "--summary", *args)
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    return {cells[0] for cells in lines[1:] if len(cells) > 2}


@pytest.fixture
def workdir(tmp_path, sample_inputs, tiny_model) -> Path:
    return make_workdir(tmp_path / "run", sample_inputs, workflow_config(tiny_model))


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def test_lint_is_clean(workdir):
    result = run_snakemake(workdir, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


def test_snakefiles_are_snakefmt_formatted():
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent))
    if snakefmt is None:
        pytest.skip("snakefmt is not installed")
    result = subprocess.run(
        [snakefmt, "--check", "Snakefile", "workflow/rules"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_dry_run_plans_every_pair_with_safe_names(workdir):
    outputs = planned_outputs(workdir)
    pictures = ["astronaut", "cat_face"]  # astronaut.png, "cat face.jpg"
    driving = ["shake_2", "slide"]  # shake-2.mp4, slide.mp4
    for name in driving:
        for picture in pictures:
            assert f"results/{name}/{picture}.mp4" in outputs
        assert f"results/{name}/mosaic.mp4" in outputs
        assert f"results/{name}/mosaic.png" in outputs
        assert f"work/driving/{name}.mp4" in outputs
    assert {f"results/_pictures/{p}.png" for p in pictures} <= outputs
    assert "results/index.html" in outputs
    assert not any("download" in line for line in outputs)


def test_clashing_file_names_get_distinct_documented_names(tmp_path, sample_inputs, tiny_model):
    workdir = make_workdir(tmp_path / "run", sample_inputs, workflow_config(tiny_model))
    pictures = workdir / "examples" / "pictures"
    for child in pictures.iterdir():
        child.unlink()
    for name in ["a.png", "a.jpg", "A.PNG", "b.png", "mosaic.png", "my pic!.jpeg", "_x_.png"]:
        (pictures / name).write_bytes(b"")
    outputs = planned_outputs(workdir)
    names = {Path(p).stem for p in outputs if p.startswith("results/slide/")}

    def digest(file_name: str) -> str:
        return hashlib.sha1(file_name.encode()).hexdigest()[:8]

    assert names == {
        "a_jpg",  # a.jpg: stem "a" clashes, extension appended
        f"a_png_{digest('a.png')}",  # a.png and A.PNG still clash ignoring case
        f"A_PNG_{digest('A.PNG')}",
        "b",
        "mosaic_picture",  # "mosaic" is the row's mosaic video
        "my_pic",
        "x",
        "mosaic",
    }


def test_defaults_fill_a_partial_config(workdir):
    write_config(workdir, {"model": "default"})
    result = run_snakemake(workdir, "-n", "-p", "--forceall")
    assert result.returncode == 0, result.stderr
    assert "--size 256" in result.stdout  # crop.size default


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"crop": {"size": 64, "colour": "red"}}, "colour"),
        ({"pair": "all"}, "pair"),
        ({"crop": {"size": "big"}}, "'big' is not of type 'integer'"),
        ({"animate": {"mode": "sideways"}}, "'sideways' is not one of"),
        ({"checkpoints": {"x": {"path": "a.pth", "sha": "00"}}}, "sha"),
    ],
)
def test_schema_rejects_bad_config_naming_the_key(workdir, tiny_model, change, named):
    config = workflow_config(tiny_model)
    config.update(change)
    write_config(workdir, config)
    result = run_snakemake(workdir, "-n")
    assert result.returncode != 0
    assert named in result.stderr + result.stdout


def test_pairs_subset_and_unknown_name(workdir, tiny_model):
    config = workflow_config(tiny_model)
    config["pairs"] = [{"picture": "cat_face", "driving": "slide"}]
    write_config(workdir, config)
    outputs = planned_outputs(workdir)
    assert {p for p in outputs if p.endswith(".mp4") and p.startswith("results/")} == {
        "results/slide/cat_face.mp4",
        "results/slide/mosaic.mp4",
    }
    config["pairs"] = [{"picture": "dog", "driving": "slide"}]
    write_config(workdir, config)
    result = run_snakemake(workdir, "-n")
    assert result.returncode != 0
    assert "unknown picture 'dog'" in result.stdout + result.stderr


def test_sample_sheet_names_and_per_row_options(workdir, tiny_model):
    sheet = workdir / "pictures.tsv"
    sheet.write_text(
        "name\tpath\tbox\tface\n"
        "hero\texamples/pictures/astronaut.png\t4, 8, 60, 60\t\n"
        "\texamples/pictures/cat face.jpg\t\tfalse\n"
    )
    config = workflow_config(tiny_model)
    config["crop"]["face"] = True
    config["pictures"] = {"sheet": "pictures.tsv"}
    write_config(workdir, config)
    result = run_snakemake(workdir, "-n", "-p")
    assert result.returncode == 0, result.stderr
    crop_lines = [line for line in result.stdout.splitlines() if "fomm crop" in line]
    hero = [line for line in crop_lines if "results/_pictures/hero.png" in line]
    cat = [line for line in crop_lines if "results/_pictures/cat_face.png" in line]
    assert len(hero) == 1 and "--box 4,8,60,60" in hero[0] and "--no-face" not in hero[0]
    assert len(cat) == 1 and "--no-face" in cat[0] and "--box" not in cat[0]

    sheet.write_text("path\tcolour\nexamples/pictures/astronaut.png\tred\n")
    result = run_snakemake(workdir, "-n")
    assert result.returncode != 0
    assert "pictures.tsv: line 2" in result.stdout + result.stderr
    assert "colour" in result.stdout + result.stderr


def test_download_planned_only_when_a_url_is_configured(workdir, tiny_model):
    config = workflow_config(tiny_model, checkpoint="checkpoints/tiny.pth")
    write_config(workdir, config)
    result = run_snakemake(workdir, "-n")
    assert result.returncode != 0  # no URL and no file: nothing can make it
    assert "checkpoints/tiny.pth" in result.stdout + result.stderr

    config["checkpoints"]["tiny"]["url"] = "http://127.0.0.1:9/tiny.pth"
    write_config(workdir, config)
    assert "checkpoints/tiny.pth" in planned_outputs(workdir)

    (workdir / "checkpoints").mkdir()
    shutil.copy(tiny_model / "model.pth", workdir / "checkpoints" / "tiny.pth")
    result = run_snakemake(workdir, "-n")
    assert result.returncode == 0, result.stderr
    assert "rule download_checkpoint:" not in result.stdout


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(
        name, REPO / "workflow" / "scripts" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_animate_command_builder():
    build = load_script("animate").build_animate_args
    assert build("p.png", "d.mp4", "o.mp4", None, None, ["--mode", "relative"]) == [
        "fomm", "animate", "p.png", "d.mp4", "-o", "o.mp4",
        "--checkpoint", "default", "--mode", "relative",
    ]  # fmt: skip
    assert build("p.png", "d.mp4", "o.mp4", "m.pth", "m.yaml", []) == [
        "fomm", "animate", "p.png", "d.mp4", "-o", "o.mp4",
        "--checkpoint", "m.pth", "--config", "m.yaml",
    ]  # fmt: skip


def test_mosaic_command_builder():
    build = load_script("mosaic").build_mosaic_args
    assert build("d.mp4", ["a.png", "b.png"], ["a.mp4", "b.mp4"], "m.mp4", "m.png", 64) == [
        "fomm", "mosaic", "d.mp4", "-o", "m.mp4",
        "--pair", "a.png", "a.mp4", "--pair", "b.png", "b.mp4",
        "--poster", "m.png", "--tile", "64",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        build("d.mp4", ["a.png"], [], "m.mp4", "m.png", 64)


def test_slurm_profile_has_the_settings_the_local_slurm_recipe_needs():
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["software-deployment-method"] == "apptainer"
    assert "--nv" in profile["apptainer-args"].split()
    assert "--bind" in profile["apptainer-args"].split()
    assert profile["default-storage-provider"] == "fs"
    assert "$SLURM_JOB_ID" in profile["remote-job-local-storage-prefix"]
    assert set(profile["shared-fs-usage"]) == {
        "persistence",
        "software-deployment",
        "sources",
        "source-cache",
    }
    assert profile["slurm-status-command"] == "squeue"
    assert profile["keep-going"] is True and profile["retries"] >= 1
    assert profile["latency-wait"] >= 5
    assert profile["set-resources"]["animate"]["slurm_partition"]
    # GPUs are asked for by the rule's gpu=1 only, never also as gres (both would be sent).
    assert "gres" not in str(profile)
    rule = (REPO / "workflow" / "rules" / "animate.smk").read_text()
    assert "gpu=1" in rule and "gres" not in rule


def test_local_profile_keeps_going_and_caps_gpus():
    profile = yaml.safe_load((REPO / "profiles" / "local" / "config.yaml").read_text())
    assert profile["keep-going"] is True
    assert "gpu=1" in profile["resources"]
