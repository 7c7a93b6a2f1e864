"""`ldm-studio models list|download|import|remove|verify`: the model manager on the command line."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from ldm_studio.core.errors import LdmStudioError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list, download, import, remove and verify models")
    sub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    ls = sub.add_parser("list", help="catalogue models and installed models, with their state")
    ls.add_argument("--installed", action="store_true", help="only models that are installed or in the hub cache")
    ls.set_defaults(run=run_list, uses_libraries=False)  # no torch, diffusers or transformers: answers at once

    dl = sub.add_parser("download", help="download a catalogue model and install it")
    dl.add_argument("name", help="catalogue name (see `models list`)")
    dl.add_argument("--endpoint", help="Hugging Face hub endpoint (default: $HF_ENDPOINT or huggingface.co)")
    dl.add_argument(
        "--device", help="where the model will run: cuda, mps or cpu (default: the best here; a GPU fetches fp16)"
    )
    dl.add_argument("--quiet", action="store_true", help="print only the installed folder")
    dl.set_defaults(run=run_download)

    im = sub.add_parser("import", help="install a model folder, or a .ckpt/.safetensors with its --config")
    im.add_argument("path", type=Path, help="model folder (LDM Studio or diffusers), .ckpt or .safetensors")
    im.add_argument(
        "--config",
        type=Path,
        help="the original config .yaml of a .ckpt/.safetensors, or a diffusers config folder for a Stable "
        "Diffusion single file of another shape (default: the shipped SD 1.x/2.x/XL configs)",
    )
    im.add_argument("--name", help="name in the store (default: from the file or folder)")
    im.add_argument("--tokenizer", type=Path, help="bert-base-uncased tokenizer folder (text checkpoints only)")
    im.add_argument("--in-place", action="store_true", help="register a folder where it is instead of copying it")
    im.add_argument(
        "--architecture",
        choices=("sd1", "sd2", "sd2-v", "sdxl"),
        help="a Stable Diffusion single file's architecture (default: detected from a .safetensors' keys; "
        "SD 2.x is read as 768-v unless sd2 is given; a .ckpt needs it)",
    )
    im.add_argument(
        "--component",
        metavar="CATALOGUE_NAME",
        help="the folder is this catalogue component (e.g. taesd, taesdxl, sdxl-vae-fp16-fix), fetched by hand",
    )
    im.add_argument("--quiet", action="store_true", help="print only the installed folder")
    im.set_defaults(run=run_import)

    rm = sub.add_parser("remove", help="delete a model from the store (hub models: unregister only)")
    rm.add_argument("name")
    rm.set_defaults(run=run_remove, uses_libraries=False)

    vf = sub.add_parser("verify", help="re-hash a model's files against the install-time checksums, load configs")
    vf.add_argument("name")
    vf.add_argument("--quiet", action="store_true")
    vf.set_defaults(run=run_verify)


def run_list(args: argparse.Namespace) -> int:
    from ldm_studio.core.models.manager import format_bytes, list_models

    rows = list_models()
    if args.installed:
        rows = [r for r in rows if r.state in ("shipped", "installed", "in hub cache", "missing")]
    if not rows:
        print("no models")
        return 0
    width = max(len(r.name) for r in [*rows, _HEADER])
    for r in [_HEADER, *rows]:
        if r is _HEADER:
            size = "SIZE"
        else:  # a catalogue entry's download size is known only when its source publishes one
            published = r.entry.size_label if r.entry is not None else None
            size = format_bytes(r.size_bytes) if r.size_bytes else (published or "size unknown")
        where = str(r.path) if r.path else (r.source or "")
        entry = getattr(r, "entry", None)
        if entry is not None and entry.kind == "component":  # a part attached to base models of its family
            where = f"[{(entry.role or '').replace('_', ' ')} for {r.family} models] {where}"
        family = r.family or "?"
        if getattr(r, "kind", "model") == "controlnet":  # a ControlNet: attached to models of this family
            family = f"{family} controlnet"
        print(f"{r.name:<{width}}  {r.state:<16}  {family:<8}  {size:>12}  {r.license or '-':<10}  {where}")
    return 0


class _Header:
    """The column titles of `models list`, shaped like a row."""

    name, state, family, license, path, source, size_bytes = "NAME", "STATE", "FAMILY", "LICENSE", None, "WHERE", None


_HEADER = _Header()


def run_download(args: argparse.Namespace) -> int:
    from ldm_studio.core.models.manager import download

    with _cancel_on_interrupt() as cancel:
        model = download(
            args.name, endpoint=args.endpoint, progress=_printer(args.quiet), cancel=cancel, device=args.device
        )
    print(model.path)
    return 0


def run_import(args: argparse.Namespace) -> int:
    from ldm_studio.core.models.manager import import_model

    with _cancel_on_interrupt() as cancel:
        model = import_model(
            args.path,
            config=args.config,
            name=args.name,
            tokenizer=args.tokenizer,
            in_place=args.in_place,
            architecture=args.architecture,
            component=args.component,
            progress=_printer(args.quiet),
            cancel=cancel,
        )
    if not args.quiet:
        what = f"{model.family} ControlNet" if model.role == "controlnet" else f"{model.family} model"
        print(f"imported {model.name} ({what}, {len(model.files)} files)", file=sys.stderr)
    print(model.path)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from ldm_studio.core.models.manager import remove

    model = remove(args.name)
    if model.kind == "store":
        print(f"removed {model.name} ({model.path})")
    else:
        print(f"unregistered {model.name}; its files stay in {model.path} (shared hub cache / your folder)")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from ldm_studio.core.models.manager import verify

    with _cancel_on_interrupt() as cancel:
        report = verify(args.name, progress=_printer(args.quiet), cancel=cancel)
    if report.ok:
        print(f"{report.name}: OK ({report.checked} files match their checksums; configs load)")
        return 0
    for problem in report.problems:
        print(f"{report.name}: {problem}", file=sys.stderr)
    raise LdmStudioError(f"{report.name}: {len(report.problems)} problem(s) found")


def _printer(quiet: bool):
    """Progress as lines on stderr, at most a few per second (a terminal is not a progress bar)."""
    state = {"last": "", "t": 0.0}

    def show(p) -> None:
        import time

        now = time.monotonic()
        line = p.describe()
        if quiet or line == state["last"] or (now - state["t"] < 0.5 and p.phase == state.get("phase")):
            return
        state.update(last=line, t=now, phase=p.phase)
        print(line, file=sys.stderr)

    return show


class _cancel_on_interrupt:
    """Ctrl+C sets the cancel Event, so the job cleans up (no partial model) before exiting."""

    def __enter__(self) -> threading.Event:
        self.event = threading.Event()
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, lambda *_: self.event.set())
        return self.event

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
