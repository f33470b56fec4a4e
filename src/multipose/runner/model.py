"""The model a job runs, as each executor loads it (every Ray actor too)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from multipose.box_sources import DetectionFile

if TYPE_CHECKING:
    from multipose.pipelines import Pipeline


@dataclass(frozen=True)
class ModelChoice:
    """The arguments of `multipose.load` (`boxes`: the path of a COCO detections file;
    `threads`: None for the CPUs each executor may use)."""

    name: str
    weights: str | None = None
    device: str = "cpu"
    scales: tuple[float, ...] = (1.0,)
    boxes: Path | None = None
    backend: str = "auto"
    flip: bool = False
    threads: int | None = None

    def load(self) -> Pipeline:
        return self.load_copies(1)[0]

    def load_copies(self, count: int, threads: int | None = None) -> list[Pipeline]:
        """`count` pipelines sharing the model's weights and networks (`load_copies`), on
        `threads` (None: `self.threads`)."""
        from multipose.loading import load_copies  # torch: not at import (the CLI's start)

        source = DetectionFile(self.boxes) if self.boxes is not None else None
        return load_copies(
            count,
            self.name,
            self.weights,
            self.device,
            self.scales,
            source,
            self.backend,
            self.flip,
            threads or self.threads,
        )
