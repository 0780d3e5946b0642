"""Snakemake script of rule animate: runs `fomm animate` for one pair, output to the log."""

import os
import subprocess
import sys


def build_animate_args(
    picture: str,
    driving: str,
    output: str,
    checkpoint: str | None,
    model_config: str | None,
    options: list[str],
) -> list[str]:
    """The `fomm animate` command line; checkpoint None means the bundled default model."""
    args = ["fomm", "animate", picture, driving, "-o", output]
    args += ["--checkpoint", checkpoint or "default"]
    if model_config:
        args += ["--config", model_config]
    return args + list(options)


def main(smk) -> int:
    args = build_animate_args(
        smk.input.picture,
        smk.input.driving,
        smk.output[0],
        smk.input.get("checkpoint"),
        smk.input.get("model_config"),
        smk.params.options,
    )
    with open(smk.log[0], "w") as log:
        # Which GPU SLURM (or the user) gave this job, for the log reader.
        gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
        print(f"CUDA_VISIBLE_DEVICES={gpus}", file=log)
        print("running:", " ".join(args), file=log, flush=True)
        return subprocess.run(args, stdout=log, stderr=subprocess.STDOUT, check=False).returncode


if __name__ == "__main__" and "snakemake" in globals():
    sys.exit(main(snakemake))  # noqa: F821 (injected by Snakemake)
