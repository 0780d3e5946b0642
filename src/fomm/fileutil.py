"""Write files so that a reader never sees a partial one: temp name, rename when complete."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from fomm.errors import InputError

PARTIAL_MARK = ".partial-"


def partial_path(final: str | os.PathLike) -> Path:
    """A temporary name beside `final`, keeping its suffix so tools infer the format.

    Partial files of the same output left by processes that no longer run (killed with
    SIGKILL, a node that went down) are removed first, so reruns do not pile them up.
    """
    final = Path(final)
    remove_stale_partials(final)
    return final.with_name(f".{final.stem}{PARTIAL_MARK}{os.getpid()}{final.suffix}")


def _process_is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_PARTIAL_NAME = re.compile(r"\.(?P<stem>.+)\.partial-(?P<pid>\d+)(?P<suffix>\.[^.]+)?")


def unwrap_partial_name(name: str) -> tuple[str, list[int]]:
    """The output a partial file stands for, and the pids in its name.

    Partials of partials (a writer given a temporary name) unwrap fully:
    `..r-video.partial-7.partial-7.mp4` -> (`r-video.mp4`, [7, 7]).
    """
    pids = []
    while (match := _PARTIAL_NAME.fullmatch(name)) is not None:
        pids.append(int(match["pid"]))
        name = match["stem"] + (match["suffix"] or "")
    return name, pids


def remove_stale_partials(final: str | os.PathLike) -> list[Path]:
    """Delete partial files of `final` (also nested ones) whose processes are all gone."""
    final = Path(final)
    removed = []
    try:
        candidates = [entry for entry in final.parent.iterdir() if entry.name.startswith(".")]
    except OSError:
        return removed
    for candidate in candidates:
        output, pids = unwrap_partial_name(candidate.name)
        if output != final.name or not pids or os.getpid() in pids:
            continue
        if not any(_process_is_running(pid) for pid in pids):
            with contextlib.suppress(OSError):
                candidate.unlink()
                removed.append(candidate)
    return removed


def check_output_path(
    final: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()
) -> None:
    """An output must be a file name, not an existing folder, and not one of `inputs`
    (writing it would replace an input the user still has only there)."""
    if Path(final).is_dir():
        raise InputError(
            final,
            f"is an existing folder; name the output file (e.g. {Path(final) / 'result.mp4'})",
        )
    for given in inputs:
        if _same_file(final, given):
            also = "" if os.fspath(given) == os.fspath(final) else f" ({given})"
            raise InputError(
                final,
                f"is also an input of this run{also}; writing it would replace that file: "
                "choose another output name",
            )


def _same_file(first: str | os.PathLike, second: str | os.PathLike) -> bool:
    """Both name one existing file (also through links or different spellings)."""
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create the folder that will hold an output, or fail with an error naming it."""
    folder = Path(path).parent if not Path(path).is_dir() else Path(path)
    folder = folder if str(folder) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".fomm-write-test-"):
            pass
    except OSError as error:
        raise InputError(folder, f"output folder is not writable ({error.strerror or error})")
    return folder


@contextlib.contextmanager
def atomic_output(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to `final`, on any error remove it.

    An existing `final` is replaced only when the new file is complete.
    """
    final = Path(final)
    check_output_path(final)
    ensure_writable_dir(final)
    temp = partial_path(final)
    try:
        yield temp
        if not temp.exists():
            raise FileNotFoundError(f"{temp} was not written")
        os.replace(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def read_yaml(path: str | os.PathLike, what: str) -> object:
    """The document of a YAML file; a missing or unreadable file is an InputError naming it."""
    import yaml

    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(path, f"{what} not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InputError(path, f"not a readable YAML {what} ({type(error).__name__})") from None
