"""End-to-end runs with profiles/local and the tiny model on generated inputs (CPU)."""

import hashlib
import http.server
import re
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from PIL import Image
from workflow_support import (
    FRAMES,
    REPO,
    make_workdir,
    picture_array,
    run_snakemake,
    video_facts,
    workflow_config,
)

LOCAL_PROFILE = ["--profile", str(REPO / "profiles" / "local"), "--cores", "2"]
PICTURES = ["astronaut", "cat_face"]
DRIVING = ["shake_2", "slide"]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, sample_inputs, tiny_model):
    workdir = make_workdir(
        tmp_path_factory.mktemp("local") / "run", sample_inputs, workflow_config(tiny_model)
    )
    started = time.monotonic()
    result = run_snakemake(workdir, *LOCAL_PROFILE, timeout=300)
    elapsed = time.monotonic() - started
    print(f"local run of {len(PICTURES)}x{len(DRIVING)} pairs: {elapsed:.1f} s")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir, result


@pytest.mark.slow
def test_every_result_is_a_video_with_sound(local_run):
    workdir, _ = local_run
    for driving in DRIVING:
        for name in [*PICTURES, "mosaic"]:
            frames, has_audio, info = video_facts(workdir / "results" / driving / f"{name}.mp4")
            assert frames == FRAMES, (driving, name, info)
            assert has_audio, (driving, name, info)
        _, _, info = video_facts(workdir / "results" / driving / "astronaut.mp4")
        assert re.search(r"Video: .*\b64x64\b", info), info
        assert Image.open(workdir / "results" / driving / "mosaic.png").size[0] > 64
    assert not (workdir / "work" / "silent").exists() or not any(
        (workdir / "work" / "silent").rglob("*.mp4")
    )


@pytest.mark.slow
def test_gallery_links_every_video_and_poster(local_run):
    workdir, result = local_run
    page = workdir / "results" / "index.html"
    html = page.read_text()
    sources = re.findall(r'<source src="([^"]+)"', html)
    posters = re.findall(r'poster="([^"]+)"', html)
    expected = {f"{d}/{p}.mp4" for d in DRIVING for p in [*PICTURES, "mosaic"]}
    assert set(sources) == expected
    for link in sources + posters:
        assert not link.startswith("/") and (page.parent / link).is_file(), link
    assert f"gallery: {page.resolve()}" in result.stdout + result.stderr
    assert "4 of 4 pairs animated" in result.stdout + result.stderr


@pytest.mark.slow
def test_rerun_does_nothing(local_run):
    workdir, _ = local_run
    results = sorted((workdir / "results").rglob("*.mp4"))
    before = {path: path.stat().st_mtime_ns for path in results}
    again = run_snakemake(workdir, *LOCAL_PROFILE)
    assert again.returncode == 0, again.stderr
    assert "Nothing to be done" in again.stdout + again.stderr
    assert {path: path.stat().st_mtime_ns for path in results} == before


def jobs_run(output: str) -> dict[str, int]:
    """Job counts per rule from snakemake's 'Job stats' table."""
    table = output.split("Job stats:")[1].split("total")[0]
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


@pytest.mark.slow
def test_bad_picture_fails_only_its_own_jobs_and_rerun_redoes_only_those(
    tmp_path, sample_inputs, tiny_model
):
    workdir = make_workdir(tmp_path / "run", sample_inputs, workflow_config(tiny_model))
    (workdir / "examples" / "driving" / "shake-2.mp4").unlink()
    (workdir / "examples" / "pictures" / "cat face.jpg").unlink()
    broken = workdir / "examples" / "pictures" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not a picture")

    result = run_snakemake(workdir, *LOCAL_PROFILE)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert video_facts(workdir / "results" / "slide" / "astronaut.mp4")[1]
    assert not list((workdir / "results").rglob("*broken*"))
    assert "1 of 2 pairs animated" in output
    assert "missing slide/broken" in output and "logs/crop/pictures/broken.log" in output
    log = (workdir / "logs" / "crop" / "pictures" / "broken.log").read_text()
    assert "fomm: error:" in log and "broken.png" in log
    assert "failed or not run yet" in (workdir / "results" / "index.html").read_text()

    Image.fromarray(picture_array("coffee")).save(broken)
    fixed = run_snakemake(workdir, *LOCAL_PROFILE)
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert jobs_run(fixed.stdout + fixed.stderr) == {
        "crop_picture": 1,
        "animate": 1,
        "mux_audio": 1,
        "mosaic": 1,
        "gallery": 1,
        "all": 1,
    }
    assert video_facts(workdir / "results" / "slide" / "broken.mp4")[1]


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with single "bytes=N-" ranges, and records each request's Range header."""

    requests: ClassVar[list[str | None]] = []

    def do_GET(self):
        type(self).requests.append(self.headers.get("Range"))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(match[1]) if match else 0
        self.send_response(206 if match else 200)
        if match:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def model_server(tiny_model):
    RangeHandler.requests = []
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0),
        lambda *args: RangeHandler(*args, directory=str(tiny_model)),
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_named_checkpoint_is_downloaded_once_resumed_and_checked(
    tmp_path, sample_inputs, tiny_model, model_server
):
    model_bytes = (tiny_model / "model.pth").read_bytes()
    config = workflow_config(tiny_model, checkpoint="checkpoints/tiny.pth")
    config["checkpoints"]["tiny"].update(
        url=f"{model_server}/model.pth", sha256="0" * 64, config=str(tiny_model / "config.yaml")
    )
    config["pairs"] = [{"picture": "astronaut", "driving": "slide"}]
    workdir = make_workdir(tmp_path / "run", sample_inputs, config)
    target = workdir / "checkpoints" / "tiny.pth"

    wrong = run_snakemake(workdir, "--cores", "1", "checkpoints/tiny.pth")
    assert wrong.returncode != 0
    assert "does not match the configured" in wrong.stdout + wrong.stderr
    assert not target.exists() and not list(target.parent.glob("*.part"))

    config["checkpoints"]["tiny"]["sha256"] = hashlib.sha256(model_bytes).hexdigest()
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    target.parent.mkdir(exist_ok=True)
    (target.parent / "tiny.pth.part").write_bytes(model_bytes[:1000])  # an interrupted download
    RangeHandler.requests = []
    animation = "work/silent/slide/astronaut.mp4"
    result = run_snakemake(workdir, *LOCAL_PROFILE, animation)
    assert result.returncode == 0, result.stdout[-3000:]
    assert RangeHandler.requests == ["bytes=1000-"]
    assert target.read_bytes() == model_bytes
    assert video_facts(workdir / animation)[0] == FRAMES

    again = run_snakemake(workdir, "-n")
    assert again.returncode == 0
    assert "rule download_checkpoint:" not in again.stdout
    assert RangeHandler.requests == ["bytes=1000-"]  # fetched once
