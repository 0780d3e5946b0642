"""Snakemake script of rule mosaic: runs `fomm mosaic` for one driving video."""

import subprocess
import sys


def build_mosaic_args(
    driving: str, pictures: list[str], results: list[str], output: str, poster: str, tile: int
) -> list[str]:
    """The `fomm mosaic` command line: one --pair SOURCE RESULT per picture."""
    if len(pictures) != len(results):
        raise ValueError("one result per picture expected")
    args = ["fomm", "mosaic", driving, "-o", output]
    for picture, result in zip(pictures, results):
        args += ["--pair", picture, result]
    return args + ["--poster", poster, "--tile", str(tile)]


def main(smk) -> int:
    args = build_mosaic_args(
        smk.input.driving,
        list(smk.input.pictures),
        list(smk.input.results),
        smk.output.video,
        smk.output.poster,
        smk.params.tile,
    )
    with open(smk.log[0], "w") as log:
        print("running:", " ".join(args), file=log, flush=True)
        return subprocess.run(args, stdout=log, stderr=subprocess.STDOUT, check=False).returncode


if __name__ == "__main__" and "snakemake" in globals():
    sys.exit(main(snakemake))  # noqa: F821 (injected by Snakemake)
