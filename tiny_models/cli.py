"""``python -m tiny_models FAMILY FORMAT PATH``: write one tiny random-weight model, to try workflows offline.

``python -m tiny_models --list`` shows every (family, format) it writes (tiny_models/registry.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tiny_models.registry import ENTRIES, WRITERS, TinyModel, families, formats

_EPILOG = """\
Weights are random: images come out as noise, but every loader, node and workflow runs on them.
Put the result where the model store looks (MODELS_DIR/<folder>/, folder shown by --list).
LoRAs and ControlNets are built for a checkpoint's layers: --base takes that checkpoint (a diffusers
folder or a single file; without it a tiny base of the family is used, so they fit every tiny
checkpoint of that family, whatever its seed).

examples:
  python -m tiny_models sd15 single-file models/checkpoints/v1-5-pruned-emaonly.safetensors
  python -m tiny_models sdxl-lora kohya-ldm models/loras/my-style.safetensors --seed 3
  python -m tiny_models sd15-controlnet single-file models/controlnet/control_v11p_sd15_canny.safetensors
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tiny_models",
        description="Write a tiny random-weight model of any supported family and format under any name.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("family", nargs="?", help="model family, e.g. sd15, sdxl, sd15-lora (see --list)")
    parser.add_argument("format", nargs="?", help="on-disk format, e.g. diffusers, single-file (see --list)")
    parser.add_argument("path", nargs="?", type=Path, help="file or folder to write")
    parser.add_argument("--list", action="store_true", help="list every family and format, then exit")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0): same seed, same bytes")
    parser.add_argument("--base", type=Path, help="LoRA/ControlNet only: the checkpoint to build it for")
    parser.add_argument("--force", action="store_true", help="write over an existing file or folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print(listing())
        return 0
    entry = _entry(parser, args.family, args.format)
    if args.path is None:
        parser.error(f"give the PATH to write the {entry.family} {entry.format} model to")
    _check_arguments(parser, entry, args.path, args.seed, args.base, args.force)
    try:
        written = entry.write(args.path, args.seed, args.base)
    except (ValueError, OSError) as exc:  # a base the writer cannot read, a folder it cannot write
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    print(_report(entry, written))
    return 0


def listing() -> str:
    width = max(len(f"{e.family} {e.format}") for e in ENTRIES)
    lines = [f"{'FAMILY FORMAT':<{width}}  {'FOLDER':<15} DESCRIPTION"]
    for e in ENTRIES:
        base = f" [--base: {e.base} checkpoint]" if e.base else ""
        lines.append(f"{e.family + ' ' + e.format:<{width}}  {e.folder + '/':<15} {e.description}{base}")
    return "\n".join(lines)


def _entry(parser: argparse.ArgumentParser, family: str | None, format_: str | None) -> TinyModel:
    if family is None or format_ is None:
        parser.error("give FAMILY FORMAT PATH (python -m tiny_models --list shows them)")
    if family not in families():
        parser.error(f"unknown family {family!r}; choose one of: {', '.join(families())}")
    if (family, format_) not in WRITERS:
        parser.error(f"{family} has no format {format_!r}; choose one of: {', '.join(formats(family))}")
    return WRITERS[(family, format_)]


def _check_arguments(
    parser: argparse.ArgumentParser, entry: TinyModel, path: Path, seed: int, base: Path | None, force: bool
) -> None:
    name = f"{entry.family} {entry.format}"
    if not 0 <= seed < 2**63:
        parser.error(f"--seed must be between 0 and 2**63 - 1, got {seed}")
    if entry.single_file and path.suffix not in entry.suffixes:
        allowed = " or ".join(entry.suffixes)
        parser.error(f"{name} writes one file: give PATH a {allowed} suffix, not {path.name!r}")
    if not entry.single_file and path.suffix in (".safetensors", ".ckpt", ".pt", ".pth", ".bin"):
        parser.error(f"{name} writes a folder: give PATH without a weights suffix, not {path.name!r}")
    if path.exists() and not force:
        parser.error(f"{path} already exists; choose another PATH or pass --force to write over it")
    if base is None:
        return
    if entry.base is None:
        parser.error(f"{name} is built from nothing: --base is only for LoRAs and ControlNets")
    if not base.exists():
        parser.error(f"--base {base}: no such file or folder")
    if not _is_checkpoint(base):
        parser.error(
            f"--base {base} is not a checkpoint: give a diffusers folder (with model_index.json) or a "
            "single .safetensors or .ckpt checkpoint (model.diffusion_model.* weights)"
        )
    from nodes.model_family import model_family

    found = model_family(base)
    if found != entry.base:
        parser.error(f"--base {base} is of family {found!r}; {name} is built for an {entry.base} checkpoint")


def _is_checkpoint(path: Path) -> bool:
    """A whole checkpoint, not a LoRA or ControlNet of the same family (which model_family also names)."""
    from nodes.model_family import tensor_table

    if path.is_dir():
        return (path / "model_index.json").is_file()
    try:
        header = tensor_table(path)
    except (OSError, ValueError):
        return False
    return any(key.startswith("model.diffusion_model.") for key in header)


def _report(entry: TinyModel, path: Path) -> str:
    what = "file" if entry.single_file else "folder"
    lines = [f"wrote a tiny random {entry.family} {entry.format} {what}: {path}"]
    sidecar = path.with_suffix(".config")
    if entry.single_file and sidecar.is_dir():
        lines.append(f"  with its configs in {sidecar}/ (keep them next to it)")
    tokenizer = path.with_suffix(".tokenizer")
    if entry.single_file and tokenizer.is_dir():
        lines.append(f"  with T5's tokenizer in {tokenizer}/ (keep it next to it)")
    if path.resolve().parent.name != entry.folder:
        lines.append(f"  the model store lists it only under MODELS_DIR/{entry.folder}/")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
