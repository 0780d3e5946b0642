# Config validation, sample discovery, naming and every helper the rules use.
import csv
import hashlib
import os
import re
import shutil
import sys
import urllib.request
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

SAFE_NAME = r"[A-Za-z0-9][A-Za-z0-9_]*"
# Names that would collide with the fixed files of the results layout.
RESERVED_PICTURE_NAMES = {"mosaic"}
CROPPED_PICTURES = "results/_pictures"
CROPPED_DRIVING = "work/driving"
SILENT_VIDEOS = "work/silent"


def ensure_fomm_on_path():
    """Rules run `fomm`: when snakemake runs from a venv that is not activated, use its fomm."""
    venv_bin = Path(sys.executable).parent
    if shutil.which("fomm") is None and (venv_bin / "fomm").exists():
        # PATH is not a required variable (no envvars: directive): it is only extended.
        os.environ.update(PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")


ensure_fomm_on_path()


class WorkflowInputError(ValueError):
    """A sample folder, sheet or pair list the workflow cannot use."""


def sanitize_stem(stem):
    """Runs of characters other than ASCII letters and digits become one "_"."""
    safe = re.sub(r"[^A-Za-z0-9]+", "_", stem).strip("_")
    return safe or "x"


def assign_sample_names(paths, reserved=frozenset()):
    """Map each path to a safe name, unique even on case-insensitive file systems.

    The name is the sanitized stem; where stems clash the extension is appended
    (a.png -> a_png, a.jpg -> a_jpg); where that still clashes, 8 hex digits of the
    SHA-1 of the file name follow. Reserved names get "_picture" appended.
    """

    def base_name(path):
        name = sanitize_stem(Path(path).stem)
        return f"{name}_picture" if name.lower() in reserved else name

    def with_extension(path):
        return sanitize_stem(f"{base_name(path)}_{Path(path).suffix}")

    def with_digest(path):
        digest = hashlib.sha1(Path(path).name.encode()).hexdigest()[:8]
        return f"{with_extension(path)}_{digest}"

    names = {path: base_name(path) for path in paths}
    for fallback in (with_extension, with_digest):
        clashing = find_clashes(names)
        for path in clashing:
            names[path] = fallback(path)
    if find_clashes(names):
        raise WorkflowInputError(
            f"cannot make unique names for {sorted(find_clashes(names))}"
        )
    return names


def find_clashes(names):
    """Paths whose names equal another path's name, ignoring case."""
    count = {}
    for name in names.values():
        count[name.lower()] = count.get(name.lower(), 0) + 1
    return [path for path, name in names.items() if count[name.lower()] > 1]


def read_sample_sheet(sheet, kind):
    """Rows of a TSV sample sheet as dicts, validated; raises naming the sheet and row."""
    with open(sheet, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    for number, row in enumerate(rows, start=2):
        row = {key.strip(): (value or "").strip() for key, value in row.items() if key}
        try:
            validate(row, schema="../schemas/sheet.schema.yaml")
        except Exception as error:
            raise WorkflowInputError(f"{sheet}: line {number}: {error}") from None
        if kind == "pictures" and row.get("mode"):
            raise WorkflowInputError(
                f"{sheet}: line {number}: 'mode' belongs in the driving sheet"
            )
        rows[number - 2] = row
    return rows


def find_samples(kind):
    """{name: {"path": ..., options}} for "pictures" or "driving", from sheet or folder."""
    settings = config[kind]
    if settings.get("sheet"):
        rows = read_sample_sheet(settings["sheet"], kind)
        unnamed = assign_sample_names(
            [row["path"] for row in rows if not row.get("name")],
            RESERVED_PICTURE_NAMES if kind == "pictures" else frozenset(),
        )
        samples = {}
        for row in rows:
            name = row.get("name") or unnamed[row["path"]]
            if name.lower() in {known.lower() for known in samples}:
                raise WorkflowInputError(
                    f"{settings['sheet']}: sample name {name!r} used twice"
                )
            samples[name] = row
        return samples
    folder = Path(settings.get("folder", ""))
    if not folder.is_dir():
        raise WorkflowInputError(f"{folder}: {kind} folder not found")
    extensions = {ext.lower() for ext in settings.get("extensions", [])}
    paths = sorted(
        str(path)
        for path in folder.iterdir()
        if path.is_file() and path.suffix[1:].lower() in extensions
    )
    names = assign_sample_names(
        paths, RESERVED_PICTURE_NAMES if kind == "pictures" else frozenset()
    )
    return {name: {"path": path} for path, name in names.items()}


def find_pairs(pictures, driving):
    """The (driving, picture) name pairs to animate."""
    if config["pairs"] == "all":
        return [(d, p) for d in sorted(driving) for p in sorted(pictures)]
    pairs = []
    for pair in config["pairs"]:
        if pair["picture"] not in pictures:
            raise WorkflowInputError(
                f"pairs: unknown picture {pair['picture']!r} (known: {', '.join(sorted(pictures))})"
            )
        if pair["driving"] not in driving:
            raise WorkflowInputError(
                f"pairs: unknown driving video {pair['driving']!r} "
                f"(known: {', '.join(sorted(driving))})"
            )
        pairs.append((pair["driving"], pair["picture"]))
    return pairs


PICTURES = find_samples("pictures")
DRIVING = find_samples("driving")
PAIRS = find_pairs(PICTURES, DRIVING)


def get_pictures_of(driving):
    """Picture names paired with one driving video, in gallery order."""
    return [picture for d, picture in PAIRS if d == driving]


def get_paired_pictures():
    """Pictures that take part in at least one pair, sorted."""
    return sorted({picture for _, picture in PAIRS})


def get_driving_names():
    """Driving videos that take part in at least one pair, sorted."""
    return sorted({driving for driving, _ in PAIRS})


def get_result_paths():
    """The animated videos with sound, results/<driving>/<picture>.mp4."""
    return [f"results/{driving}/{picture}.mp4" for driving, picture in PAIRS]


def get_final_output():
    """Every final file: the results, the mosaics and the gallery."""
    return [
        *get_result_paths(),
        *[f"results/{driving}/mosaic.mp4" for driving in get_driving_names()],
        "results/index.html",
    ]


def get_picture_path(wildcards):
    return PICTURES[wildcards.picture]["path"]


def get_driving_path(wildcards):
    return DRIVING[wildcards.driving]["path"]


def build_crop_options(sample):
    """fomm crop flags for one sample: size, then the row's box/margin/face or the config's."""
    options = ["--size", str(config["crop"]["size"])]
    margin = sample.get("margin") or config["crop"]["margin"]
    if margin not in (None, ""):
        options += ["--margin", str(margin)]
    if sample.get("box"):
        options += ["--box", re.sub(r"\s+", "", sample["box"])]
    face = sample.get("face", "")
    if (face == "" and not config["crop"]["face"]) or face in ("false", "no", "0"):
        options.append("--no-face")
    return options


def get_picture_crop_options(wildcards):
    return build_crop_options(PICTURES[wildcards.picture])


def get_driving_crop_options(wildcards):
    return build_crop_options(DRIVING[wildcards.driving])


def get_audio_source(wildcards):
    """The original driving video: the crop may not keep its audio track."""
    return DRIVING[wildcards.driving]["path"]


def get_checkpoint():
    """None for the bundled default model, else the checkpoint's config entry."""
    if config["model"] == "default":
        return None
    if config["model"] not in config["checkpoints"]:
        raise WorkflowInputError(
            f"model: {config['model']!r} is neither 'default' nor a key of checkpoints "
            f"(known: {', '.join(sorted(config['checkpoints'])) or 'none'})"
        )
    return config["checkpoints"][config["model"]]


def get_checkpoint_inputs(wildcards):
    """Checkpoint (and model YAML) files the animate rule reads; none for the default."""
    entry = get_checkpoint()
    if entry is None:
        return {}
    inputs = {"checkpoint": entry["path"]}
    if entry.get("config"):
        inputs["model_config"] = entry["config"]
    return inputs


def get_download_targets():
    """The checkpoint file to download, when a URL is configured for the chosen model."""
    entry = get_checkpoint()
    return [entry["path"]] if entry is not None and entry.get("url") else []


def get_animate_options(wildcards):
    """fomm animate flags (no file names) from config.animate and the driving sheet's mode."""
    settings = config["animate"]
    mode = DRIVING[wildcards.driving].get("mode") or settings["mode"]
    options = [
        "--mode",
        mode,
        "--device",
        settings["device"],
        "--precision",
        settings["precision"],
    ]
    if settings["batch_size"] is not None:
        options += ["--batch-size", str(settings["batch_size"])]
    if settings["adapt_scale"]:
        options.append("--adapt-scale")
    if settings["best_frame"] is not None:
        options += ["--best-frame", str(settings["best_frame"])]
    elif settings["find_best_frame"]:
        options.append("--find-best-frame")
    if settings["align_corners"]:
        options.append("--align-corners")
    if settings["quality"] is not None:
        options += ["--quality", str(settings["quality"])]
    return options + ["--no-audio"]


def get_mosaic_inputs(wildcards):
    """Cropped driving video, then the cropped pictures and results of this row."""
    pictures = get_pictures_of(wildcards.driving)
    return {
        "driving": f"{CROPPED_DRIVING}/{wildcards.driving}.mp4",
        "pictures": [f"{CROPPED_PICTURES}/{picture}.png" for picture in pictures],
        "results": [
            f"results/{wildcards.driving}/{picture}.mp4" for picture in pictures
        ],
    }


def download_checkpoint(url, target, sha256, log):
    """Fetch url into target once: resumes a partial .part file, checks sha256 when given."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(f"downloading {url} to {target}\n")
    target = Path(target)
    partial = target.with_name(f"{target.name}.part")
    target.parent.mkdir(parents=True, exist_ok=True)
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(
        url, headers={"Range": f"bytes={have}-"} if have else {}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        resumed = have > 0 and response.status == 206
        with open(partial, "ab" if resumed else "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    if sha256:
        digest = hashlib.sha256()
        with open(partial, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != sha256.lower():
            partial.unlink()
            raise WorkflowInputError(
                f"{url}: sha256 {digest.hexdigest()} does not match the configured {sha256}"
            )
    partial.replace(target)


def build_gallery_html(title, rows):
    """A static page: one section per driving video, mosaic first, then each result.

    rows: [(driving, mosaic_or_None, [(picture, video_or_None, poster), ...])] with paths
    relative to the page, so the page works wherever results/ is copied.
    """
    from html import escape
    from urllib.parse import quote

    def video_tag(video, poster, width=""):
        size = f' width="{width}"' if width else ""
        return (
            f'<video controls preload="none" poster="{quote(poster)}"{size}>'
            f'<source src="{quote(video)}" type="video/mp4"></video>'
        )

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:1em}figure{display:inline-block;"
        "margin:.5em;vertical-align:top}figcaption{text-align:center}.missing{color:#a00}"
        "</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ]
    for driving, mosaic, results in rows:
        parts.append(f"<section><h2>{escape(driving)}</h2>")
        if mosaic is not None:
            parts.append(
                f"<figure>{video_tag(mosaic[0], mosaic[1])}<figcaption>mosaic</figcaption></figure>"
            )
        for picture, video, poster in results:
            if video is None:
                body = '<p class="missing">failed or not run yet</p>'
            else:
                body = video_tag(video, poster, width=256)
            parts.append(
                f"<figure>{body}<figcaption>{escape(picture)}</figcaption></figure>"
            )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def get_gallery_rows(results_dir=None):
    """Gallery rows for every pair; with results_dir, videos not there are marked missing."""

    def exists(relative):
        return results_dir is None or (Path(results_dir) / relative).exists()

    rows = []
    for driving in get_driving_names():
        mosaic = None
        if exists(f"{driving}/mosaic.mp4"):
            mosaic = (f"{driving}/mosaic.mp4", f"{driving}/mosaic.png")
        results = []
        for picture in get_pictures_of(driving):
            video = f"{driving}/{picture}.mp4"
            results.append(
                (picture, video if exists(video) else None, f"_pictures/{picture}.png")
            )
        rows.append((driving, mosaic, results))
    return rows


def write_gallery(page, log):
    """Write the gallery page for every pair (all results exist when the rule runs)."""
    Path(page).write_text(
        build_gallery_html(config["gallery"]["title"], get_gallery_rows())
    )
    Path(log).write_text(f"wrote {page} with {len(PAIRS)} results\n")


def get_results_dir():
    """Where results/ really is: under the storage prefix when one is in use."""
    prefix = getattr(workflow.storage_settings, "default_storage_prefix", None)
    if getattr(workflow.storage_settings, "default_storage_provider", None) and prefix:
        return Path(prefix) / "results"
    return Path("results")


def print_summary(succeeded):
    """How many pairs finished, which did not (with their logs), and where the gallery is."""
    results_dir = get_results_dir()
    missing = [
        (driving, picture)
        for driving, picture in PAIRS
        if not (results_dir / driving / f"{picture}.mp4").exists()
    ]
    print(f"fomm: {len(PAIRS) - len(missing)} of {len(PAIRS)} pairs animated.")
    for driving, picture in missing:
        print(
            f"fomm: missing {driving}/{picture}: see logs/crop/pictures/{picture}.log, "
            f"logs/crop/driving/{driving}.log, logs/animate/{driving}/{picture}.log"
        )
    gallery = results_dir / "index.html"
    if not succeeded and results_dir.is_dir():
        page = build_gallery_html(
            config["gallery"]["title"], get_gallery_rows(results_dir)
        )
        temp = gallery.with_name(".index.html.partial")
        try:
            temp.write_text(page)
            temp.replace(gallery)
        except OSError as error:
            temp.unlink(missing_ok=True)
            print(f"fomm: could not write {gallery}: {error.strerror or error}")
    if gallery.exists():
        print(f"fomm: gallery: {gallery.resolve()}")
