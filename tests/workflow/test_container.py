"""Singularity.def and Dockerfile build the same image, and their entry point exists."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_support import REPO

spython_parsers = pytest.importorskip("spython.main.parse.parsers")

ENV_ASSIGNMENT = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def parse_recipes():
    docker = spython_parsers.DockerParser(str(REPO / "Dockerfile")).recipe
    singularity = spython_parsers.SingularityParser(str(REPO / "Singularity.def")).recipe
    (docker,) = docker.values()
    (singularity,) = singularity.values()
    return docker, singularity


def install_commands(lines: list[str]) -> list[str]:
    """Build commands without comments, blank lines, env assignments and %test bookkeeping."""
    commands = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or ENV_ASSIGNMENT.match(line):
            continue
        if line.endswith(">> /tests.sh") or line == "chmod u+x /tests.sh":
            continue
        commands.append(re.sub(r"\{\{\s*(\w+)\s*\}\}", r"${\1}", line))  # {{ X }} -> ${X}
    return commands


def singularity_sections() -> dict[str, str]:
    """Section name (e.g. 'post', 'apprun animate') -> body, read from Singularity.def."""
    text = (REPO / "Singularity.def").read_text()
    parts = re.split(r"^%(\w+(?: \w+)?)\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_same_base_image_pinned_by_tag():
    docker, singularity = parse_recipes()
    assert docker.fromHeader == singularity.fromHeader
    name, _, tag = docker.fromHeader.partition(":")
    assert name and tag and tag != "latest" and "cuda" in tag


def test_same_environment_files_and_install_steps():
    docker, singularity = parse_recipes()
    assert docker.environ == singularity.environ
    assert docker.environ, "no environment set"
    docker_files = [" ".join(pair) for pair in docker.files]
    assert docker_files == singularity.files
    assert install_commands(docker.install) == install_commands(singularity.install)
    assert any("pip install /opt/fomm" in line for line in install_commands(docker.install))


def test_same_build_argument_default():
    docker = spython_parsers.DockerParser(str(REPO / "Dockerfile"))
    arguments = singularity_sections()["arguments"]
    singularity_args = dict(
        line.strip().split("=", 1) for line in arguments.splitlines() if "=" in line
    )
    assert docker.args == singularity_args
    assert "CHECKPOINT_URL" in docker.args


def test_same_entry_point_and_labels():
    docker, singularity = parse_recipes()
    assert docker.entrypoint == ["fomm"]
    assert singularity.cmd.split()[:2] == ["exec", "fomm"]
    docker_labels = {}
    for (line,) in docker.labels:
        key, _, value = line.rstrip(" \\").partition("=")
        docker_labels[key] = value.strip('"')
    singularity_labels = dict(line.split(" ", 1) for line in singularity.labels)
    assert docker_labels == singularity_labels


def test_apps_help_and_test_sections():
    sections = singularity_sections()
    for app in ("animate", "crop", "mux"):
        assert sections[f"apprun {app}"].split() == ["exec", "fomm", app, '"$@"']
    assert "--bind" in sections["help"] and "--nv" in sections["help"]
    assert "fomm --help" in sections["test"]


@pytest.mark.parametrize("command", [[], ["animate"], ["crop"], ["mux"], ["mosaic"]])
def test_entry_point_commands_run_on_the_host(command):
    result = subprocess.run(
        [sys.executable, "-m", "fomm", *command, "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(REPO),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: fomm")
