"""Training checkpoints: everything a run needs to go on exactly where it stopped, written
through a temporary file and a rename so that a crash never leaves half a checkpoint."""

from __future__ import annotations

import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from multipose.errors import MultiposeError
from multipose.io.files import replacing
from multipose.weights.checkpoints import load_pickled


def rng_states() -> dict[str, Any]:
    """Python's and torch's random states (augmentation draws from generators seeded by
    (seed, epoch, sample), which need no saving)."""
    return {"python": random.getstate(), "torch": torch.get_rng_state()}


def restore_rng_states(states: dict[str, Any]) -> None:
    version, values, gauss = states["python"]
    random.setstate((version, tuple(values), gauss))
    torch.set_rng_state(states["torch"])


def save_checkpoint(path: str | Path, **state: Any) -> None:
    """Write `state` (tensors, state dicts, numbers, the config) atomically, with mode 0666
    less the umask."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if "config" in state and not isinstance(state["config"], dict):
        state["config"] = asdict(state["config"])
    with replacing(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by `save_checkpoint`, read without running any pickled code."""
    path = Path(path)
    if not path.is_file():
        raise MultiposeError("no such checkpoint", path)
    state = load_pickled(path)
    if not isinstance(state, dict):
        raise MultiposeError("not a training checkpoint (no dict of settings and states)", path)
    return state
