"""Security: no unpickling, no shell, no root, writes only to the output folder, no network.

The whole crop -> animate -> mux chain runs as the unprivileged user `nobody`, on inputs
named `$(touch pwned).png` and `a'b;c.mp4`, in a network namespace of its own (no
interface but a down loopback) and with a Python audit hook recording every socket and
URL-opening call. The process keeps only CAP_DAC_READ_SEARCH (to read the project, which
lives under root-only folders here), so it can read anything but write only where
`nobody` may: its output folder, its HOME, its working folder and TMPDIR, all of which
the test lists before and after.
"""

from __future__ import annotations

import json
import os
import pickle
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from faults_support import (
    TINY_KIT,
    assert_valid_video,
    file_listing,
    make_clip,
    make_picture,
    run_cli,
    stream_summary,
)

DRIVER = r"""
import json, sys
network = []
def audit(event, args):
    if event.startswith(("socket.", "urllib.", "http.", "ftplib.", "smtplib.")):
        network.append(f"{event} {args!r}"[:300])
sys.addaudithook(audit)
from fomm.cli import main
codes = []
for argv in json.loads(sys.argv[1]):
    try:
        codes.append(main(argv))
    except SystemExit as stop:
        codes.append(stop.code)
print(json.dumps({"codes": codes, "network": network}))
"""

DEAD_PROXY = "http://127.0.0.1:9"


def unprivileged_prefix() -> list[str]:
    """A command prefix that runs as nobody (read-only capability kept), offline if it can."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to the unprivileged user")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) not installed")
    prefix = []
    if subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False).returncode == 0:
        prefix = ["unshare", "-n"]
    nobody = pwd.getpwnam("nobody")
    return [
        *prefix,
        "setpriv",
        f"--reuid={nobody.pw_uid}",
        f"--regid={nobody.pw_gid}",
        "--clear-groups",
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
        "--",
    ]


def nobody_owned_dirs(root: Path, *names: str) -> list[Path]:
    nobody = pwd.getpwnam("nobody")
    folders = []
    for name in names:
        folder = root / name
        folder.mkdir()
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        folders.append(folder)
    return folders


def tmp_entries_of(uid: int) -> set[str]:
    names = set()
    for entry in os.scandir(tempfile.gettempdir()):
        try:
            if entry.stat(follow_symlinks=False).st_uid == uid:
                names.add(entry.name)
        except FileNotFoundError:
            continue
    return names


@pytest.fixture(scope="module")
def unprivileged_chain(tiny_kit):
    prefix = unprivileged_prefix()
    root = Path(tempfile.mkdtemp(prefix="fomm-security-"))
    root.chmod(0o755)
    try:
        inputs = root / "inputs"
        inputs.mkdir()
        picture = make_picture(inputs / "$(touch pwned).png", (96, 80))
        driving = make_clip(inputs / "a'b;c.mp4", frames=10, audio_seconds=1.0)
        for path in (inputs, picture, driving):
            path.chmod(0o755 if path.is_dir() else 0o644)
        out, home, cwd, tmp = nobody_owned_dirs(root, "out", "home", "cwd", "tmp")
        animated = out / "$(touch pwned) a'b;c.mp4"
        commands = [
            ["crop", str(picture), "-o", str(out / "face.png"), "--size", "64", "--no-face"],
            ["crop", str(driving), "-o", str(out / "drv.mp4"), "--size", "64", "--no-face"],
            [
                "animate", str(out / "face.png"), str(out / "drv.mp4"), "-o", str(animated),
                "--checkpoint", str(TINY_KIT / "model.pth"), "--config",
                str(TINY_KIT / "config.yaml"), "--device", "cpu", "--no-audio",
            ],
            ["mux", str(animated), "--audio-from", str(driving), "-o", str(out / "final.mp4")],
        ]  # fmt: skip
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "OMP_NUM_THREADS": "1",
            "LANG": "C.UTF-8",
            **{name: DEAD_PROXY for name in ("http_proxy", "https_proxy", "HTTP_PROXY",
                                              "HTTPS_PROXY", "ALL_PROXY", "all_proxy")},
        }  # fmt: skip
        nobody_uid = pwd.getpwnam("nobody").pw_uid
        before = {name: file_listing(root / name) for name in ("inputs", "home", "cwd", "tmp")}
        tmp_before = tmp_entries_of(nobody_uid)
        result = subprocess.run(
            [*prefix, sys.executable, "-c", DRIVER, json.dumps(commands)],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        after = {name: file_listing(root / name) for name in ("inputs", "home", "cwd", "tmp")}
        report = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout else {}
        yield {
            "result": result,
            "report": report,
            "root": root,
            "out": out,
            "animated": animated,
            "driving": driving,
            "changed": {k: before[k] != after[k] for k in before},
            "after": after,
            "new_tmp": tmp_entries_of(nobody_uid) - tmp_before,
            "offline": bool(prefix and prefix[0] == "unshare"),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_chain_runs_as_nobody_on_hostile_names(unprivileged_chain):
    run = unprivileged_chain
    assert run["result"].returncode == 0, run["result"].stderr[-3000:]
    assert run["report"]["codes"] == [0, 0, 0, 0], run["result"].stderr[-3000:]
    assert_valid_video(run["animated"], 10)
    assert_valid_video(run["out"] / "final.mp4", 10)
    assert "Audio:" in stream_summary(run["out"] / "final.mp4")


def test_no_shell_side_effect(unprivileged_chain):
    run = unprivileged_chain
    assert not list(run["root"].rglob("pwned")), "a file name was run as a shell command"
    assert not (Path.cwd() / "pwned").exists()


def test_writes_only_under_the_output_folder(unprivileged_chain):
    run = unprivileged_chain
    assert not any(run["changed"].values()), {
        k: run["after"][k] for k, v in run["changed"].items() if v
    }
    assert not run["new_tmp"], f"new files of nobody in /tmp: {run['new_tmp']}"
    produced = sorted(file_listing(run["out"]))
    assert produced == sorted(["face.png", "drv.mp4", run["animated"].name, "final.mp4"]), produced


def test_nothing_downloaded(unprivileged_chain):
    run = unprivileged_chain
    assert run["report"]["network"] == [], run["report"]["network"]
    if not run["offline"]:
        pytest.skip("no network namespace (unshare -n); only the audit hook checked sockets")


class _CreatesFile:
    """Unpickling this creates a file: the payload of a hostile checkpoint."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("command", ["inspect", "animate", "demo"])
def test_hostile_checkpoint_never_unpickled(command, tmp_path, tiny_kit):
    import torch

    marker = tmp_path / "created-by-unpickling"
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_CreatesFile(proof))).close()
    assert proof.exists(), "the payload does not work: the test would prove nothing"
    state = torch.load(TINY_KIT / "model.pth", map_location="cpu", weights_only=True)
    state["kp_detector"] = _CreatesFile(marker)
    hostile = tmp_path / "hostile.pth.tar"
    torch.save(state, hostile)
    source = make_picture(tmp_path / "s.png")
    driving = make_clip(tmp_path / "d.mp4", frames=4)
    if command == "inspect":
        code, stderr = run_cli(["inspect", str(hostile)])
    elif command == "animate":
        code, stderr = run_cli(
            ["animate", str(source), str(driving), "-o", str(tmp_path / "o.mp4"),
             "--checkpoint", str(hostile), "--device", "cpu"]
        )  # fmt: skip
    else:
        result = subprocess.run(
            [sys.executable, "-m", "fomm.demo", "--config", str(TINY_KIT / "config.yaml"),
             "--checkpoint", str(hostile), "--source_image", str(source),
             "--driving_video", str(driving), "--result_video", str(tmp_path / "o.mp4"), "--cpu"],
            capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"),
            check=False, timeout=120,
        )  # fmt: skip
        code, stderr = result.returncode, result.stderr
    assert code == 2, stderr
    assert str(hostile) in stderr and "Traceback" not in stderr, stderr
    assert not marker.exists(), "the checkpoint's pickle ran code"
    assert not (tmp_path / "o.mp4").exists()


def test_container_runscripts_only_run_fomm():
    """The image's entry points run `fomm` as the calling user: no sudo/su, no writes of
    their own (what the unprivileged chain above checks for fomm itself)."""
    from faults_support import REPO

    definition = (REPO / "Singularity.def").read_text()
    sections = {}
    current = None
    for line in definition.splitlines():
        if line.startswith("%"):
            current = line.strip()
            sections[current] = []
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            sections[current].append(line.strip())
    entry_points = {
        name: body for name, body in sections.items() if name.startswith(("%runscript", "%apprun"))
    }
    assert "%runscript" in entry_points, sorted(sections)
    for name, body in entry_points.items():
        assert len(body) == 1 and body[0].startswith("exec fomm"), (name, body)
        assert not any(word in body[0].split() for word in ("sudo", "su", "chmod", "chown")), body
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["fomm"]' in dockerfile
