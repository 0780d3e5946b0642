"""`fomm inspect CKPT [--json]`: the configuration a checkpoint implies, and its sizes."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="print a checkpoint's inferred configuration",
        description="Load a checkpoint (weights only), infer its configuration from the tensor "
        "shapes, and print it with parameter counts and the matching published config.",
    )
    parser.add_argument("checkpoint", metavar="CKPT", help="checkpoint file, or 'default'")
    parser.add_argument("--config", metavar="YAML", help="check against this config YAML")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def describe(args: argparse.Namespace) -> dict:
    import yaml  # noqa: F401 - fail early if missing

    from fomm.model.checkpoint import load_model, parameter_counts, published_matches

    model = load_model(args.checkpoint, args.config)
    counts = parameter_counts(model)
    return {
        "checkpoint": model.path,
        "published_config": model.published_name,
        "same_architecture_as": published_matches(model.config),
        "parameters": {**counts, "total": sum(counts.values())},
        "resampling": "corner-aligned (trained by fomm train)"
        if model.corner_aligned
        else "reference (the original demo's grid_sample; --align-corners for PyTorch 1.0)",
        "config": model.config.to_fomm_yaml(),
        "config_source": args.config or "the checkpoint's own config entry, else its tensor shapes",
    }


def run(args: argparse.Namespace) -> int:
    import yaml

    summary = describe(args)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"checkpoint: {summary['checkpoint']}")
    matches = summary["same_architecture_as"]
    print(f"published config: {', '.join(matches) if matches else 'none (custom architecture)'}")
    params = summary["parameters"]
    print(
        f"parameters: kp_detector {params['kp_detector']:,}, generator {params['generator']:,}, "
        f"total {params['total']:,}"
    )
    print(f"resampling: {summary['resampling']}")
    print(f"configuration ({summary['config_source']}):")
    print(yaml.safe_dump(summary["config"], sort_keys=False).rstrip())
    return 0
