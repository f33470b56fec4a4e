"""`python -m multipose.train CONFIG.yaml [--resume]`, also under `torchrun`."""

from __future__ import annotations

import argparse
import sys

from multipose.errors import MultiposeError
from multipose.train.config import TrainConfig
from multipose.train.trainer import Trainer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="multipose.train", description=__doc__)
    parser.add_argument("config", help="training configuration (YAML)")
    parser.add_argument("--resume", action="store_true", help="go on from out_dir/last.pt")
    args = parser.parse_args(argv)
    try:
        Trainer(TrainConfig.read(args.config), resume=args.resume).run()
    except MultiposeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
