"""`multipose train`: training as a config says."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--resume", is_flag=True, help="Go on from the run's last checkpoint.")
def train(config: Path, resume: bool) -> None:
    """Train a model as CONFIG.yaml says (under torchrun for several processes)."""
    from multipose.train.config import TrainConfig
    from multipose.train.trainer import Trainer

    Trainer(TrainConfig.read(config), resume=resume).run()
