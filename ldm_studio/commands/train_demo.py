"""`ldm-studio train-demo`: train the small demo LDM on procedural scenes and write its model folder."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-demo", help="train the small demo model on procedural scenes")
    p.add_argument("--out", type=Path, required=True, help="model folder to write (replaced atomically at the end)")
    p.add_argument("--minutes", type=float, default=100.0, help="time budget for all stages (default 100)")
    p.add_argument("--device", help="cuda, cuda:N, mps or cpu (default: a GPU when there is one)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: every core)")
    p.add_argument("--work", type=Path, help="checkpoint folder (default: a folder in the temp dir); reruns resume")
    p.add_argument("--max-steps", type=int, help="at most this many steps per stage (smoke tests)")
    p.add_argument("--autoencoder", choices=("kl", "vq"), default="kl", help="first-stage regularisation (default kl)")
    p.add_argument("--scenes", type=int, default=30_000, help="scenes encoded for the U-Net stage")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ldm_studio.demo.train import TrainConfig, train

    config = TrainConfig(
        out=args.out,
        minutes=args.minutes,
        device=args.device,
        seed=args.seed,
        threads=args.threads,
        work=args.work,
        max_steps=args.max_steps,
        unet_scenes=args.scenes,
        autoencoder=args.autoencoder,
        command="ldm-studio " + shlex.join(sys.argv[1:]),
    )
    path = train(config)
    print(path)
    return 0
