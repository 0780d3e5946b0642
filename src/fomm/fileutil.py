"""Write files so that a reader never sees a partial one: temp name, rename when complete."""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Iterator
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


def remove_stale_partials(final: str | os.PathLike) -> list[Path]:
    """Delete `.<stem>.partial-<pid><suffix>` files beside `final` whose process is gone."""
    final = Path(final)
    prefix = f".{final.stem}{PARTIAL_MARK}"
    removed = []
    try:
        candidates = list(final.parent.glob(f"{glob.escape(prefix)}*{glob.escape(final.suffix)}"))
    except OSError:
        return removed
    for candidate in candidates:
        pid_text = candidate.name[len(prefix) : len(candidate.name) - len(final.suffix)]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        if not _process_is_running(int(pid_text)):
            with contextlib.suppress(OSError):
                candidate.unlink()
                removed.append(candidate)
    return removed


def check_output_path(final: str | os.PathLike) -> None:
    """An output must be a file name, not an existing folder."""
    if Path(final).is_dir():
        raise InputError(
            final,
            f"is an existing folder; name the output file (e.g. {Path(final) / 'result.mp4'})",
        )


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
