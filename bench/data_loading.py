"""Speed of the training data pipeline (read, augment, build targets, in DataLoader workers)
against a training step of the model, on ../shared/data/coco-mini-train2017: samples per
second of each, so that one can see whether the network would wait for data.

    python bench/data_loading.py         # writes bench/results/data_loading.md
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from multipose.data.datasets import CocoSource
from multipose.data.transforms import Augment
from multipose.io.coco import CocoDataset
from multipose.specs import get_spec
from multipose.train.config import TrainConfig
from multipose.train.trainer import Trainer

from common import write_report

SHARED = Path(__file__).resolve().parents[2] / "shared"
TRAIN = SHARED / "data" / "coco-mini-train2017" / "annotations.json"
CASES = (("lightweight-openpose", (368, 368), 8), ("simplebaseline-r50", (192, 256), 32))


def loader_rate(dataset, batch: int, workers: int, batches: int = 6) -> float:
    loader = DataLoader(
        dataset, batch, shuffle=True, num_workers=workers, drop_last=True, persistent_workers=False
    )
    start, seen = time.perf_counter(), 0
    for i, data in enumerate(loader):
        seen += data["image"].shape[0]
        if i + 1 == batches:
            break
    return seen / (time.perf_counter() - start)


def step_rate(model: str, size: tuple[int, int], batch: int, steps: int = 3) -> float:
    config = TrainConfig(
        model=model,
        data=str(TRAIN),
        input_size=size,
        batch_size=batch,
        steps=steps + 1,
        workers=0,
        out_dir="/tmp/multipose-bench",
    )
    trainer = Trainer(config)
    batch_data = next(iter(trainer._batches(0, 0)))
    trainer._train_step(batch_data)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        trainer._train_step(batch_data)
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    torch.set_num_threads(2)
    source = CocoSource(CocoDataset(TRAIN))
    lines = [
        "# Training data pipeline against the training step (CPU, 2 cores)",
        "",
        "Samples per second. Data: read + augment + targets, in 0 or 2 DataLoader workers. "
        "Step: forward + backward + AdamW on the CPU (a GPU is about two orders faster).",
        "",
        "| model | input | batch | data, 0 workers | data, 2 workers | training step |",
        "|---|---|---|---|---|---|",
    ]
    for name, size, batch in CASES:
        spec = get_spec(name)
        dataset = spec.targets(source, spec, size, Augment())
        rates = [loader_rate(dataset, batch, workers) for workers in (0, 2)]
        step = step_rate(name, size, batch)
        row = (
            f"| {name} | {size[0]}x{size[1]} | {batch} | {rates[0]:.1f} | {rates[1]:.1f} | "
            f"{step:.1f} |"
        )
        print(row)
        lines.append(row)
    write_report("data_loading.md", lines)


if __name__ == "__main__":
    main()
