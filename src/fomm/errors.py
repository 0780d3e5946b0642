"""Errors the command line reports as one line with exit code 2."""

from __future__ import annotations

import os


class FommError(Exception):
    """A problem the user can fix: bad input, bad option, unusable checkpoint."""


class InputError(FommError):
    """A named file cannot be used; the message says which and why."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
