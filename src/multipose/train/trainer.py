"""The trainer: one process, or several under `torchrun` (DistributedDataParallel).

Each step draws a batch (targets built in the DataLoader workers), computes the method's loss
on every stage's output, steps the optimiser under the warm-up + cosine/step schedule (AMP on
CUDA, optional gradient clipping), and logs the loss terms and learning rate to the console and
`log.csv`. Checkpoints (`last.pt`, every `checkpoint_every` steps and at the end) are atomic and
hold all a run needs to resume exactly: weights, optimiser, schedule, scaler, step, RNG states,
config. Data order depends only on (seed, epoch), so a resumed run sees the batches the
interrupted one would have. Rank 0 alone logs and checkpoints.
"""

from __future__ import annotations

import csv
import math
import os
import sys
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from rich.progress import Progress, TextColumn
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from multipose.box_sources import GroundTruthBoxes
from multipose.data.datasets import CocoSource, SceneSource
from multipose.data.synthetic import make_dataset
from multipose.data.transforms import NO_AUGMENT, Augment
from multipose.devices import torch_device
from multipose.errors import MultiposeError
from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset
from multipose.lazy import resolved
from multipose.specs import get_spec
from multipose.train.checkpoint import (
    load_checkpoint,
    restore_rng_states,
    rng_states,
    save_checkpoint,
)
from multipose.train.config import TrainConfig


class Trainer:
    def __init__(self, config: TrainConfig, resume: bool = False) -> None:
        self.config = config
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = torch_device(config.device)
        if self.device.type == "cuda" and self.device.index is not None:
            torch.cuda.set_device(self.device)  # NCCL's and the CUDA calls' default GPU
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        torch.manual_seed(config.seed)
        self.spec = get_spec(config.model)
        if self.spec.loss is None or self.spec.targets is None:
            raise MultiposeError(f"{self.spec.name} cannot be trained here (no loss or targets)")
        self._loss = _build_loss(resolved(self.spec.loss), config)
        network = self.spec.load(Path(config.weights)) if config.weights else self.spec.build()
        network.train()
        if config.sync_batchnorm and self.world > 1:
            network = nn.SyncBatchNorm.convert_sync_batchnorm(network)
        self.network = network.to(self.device)
        self.model = self.network
        if self.world > 1:
            gpu = [self.device] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.network, device_ids=gpu)
        self.dataset = self._dataset()
        self.optimizer = self._optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.scaler = torch.amp.GradScaler(enabled=config.amp and self.device.type == "cuda")
        self.step = 0
        self.best_ap = -1.0
        self.out_dir = Path(config.out_dir)
        if resume:
            self._resume()

    # -- setting up -------------------------------------------------------------------------

    def _dataset(self):
        config = self.config
        if config.data == "synthetic":
            width, height = config.input_size
            _, scenes = make_dataset(
                config.synthetic_images, config.synthetic_people, width, height, seed=config.seed
            )
            source = SceneSource(scenes)
        else:
            source = CocoSource(CocoDataset(config.data, config.image_dir))
        augment = Augment() if config.augment else NO_AUGMENT
        return self.spec.targets(source, self.spec, config.input_size, augment, config.seed)

    def _optimizer(self) -> torch.optim.Optimizer:
        config, parameters = self.config, self.network.parameters()
        if config.optimizer == "adamw":
            return torch.optim.AdamW(parameters, config.lr, weight_decay=config.weight_decay)
        if config.optimizer == "sgd":
            return torch.optim.SGD(
                parameters, config.lr, momentum=0.9, weight_decay=config.weight_decay
            )
        raise MultiposeError(f"optimizer must be adamw or sgd, not {config.optimizer!r}")

    def _lr_factor(self, step: int) -> float:
        config = self.config
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        if config.schedule == "cosine":
            done = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
            return 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))
        return 0.1 ** sum(step >= f * config.steps for f in config.step_at)

    def _resume(self) -> None:
        path = self.out_dir / "last.pt"
        if not path.is_file():
            raise MultiposeError("nothing to resume: no last.pt", self.out_dir)
        state = load_checkpoint(path)
        self._compare_settings(state, path)
        try:
            self.network.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.scaler.load_state_dict(state["scaler"])
            self.step = int(state["step"])
            self.best_ap = state.get("best_ap", -1.0)
            restore_rng_states(state["rng"])
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MultiposeError(
                f"does not fit this run's {self.spec.name} and {self.config.optimizer} ({what})",
                path,
            ) from None
        log = self.out_dir / "log.csv"
        if self.rank == 0 and log.is_file():  # forget the steps done after the checkpoint
            with log.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= self.step]
            with log.open("w", newline="") as f:
                if rows:
                    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                    writer.writeheader()
                    writer.writerows(rows)

    def _compare_settings(self, state: dict, path: Path) -> None:
        """Refuse to resume another model or optimiser; warn where the settings that shape the
        run (batch size, steps, schedule, data, processes ...) differ from the checkpoint's."""
        saved, mine = dict(state.get("config") or {}), asdict(self.config)
        saved["processes"], mine["processes"] = state.get("world_size", self.world), self.world
        for name in ("model", "optimizer"):
            if name in saved and saved[name] != mine[name]:
                raise MultiposeError(
                    f"was written by a run of {name} {saved[name]}, not {mine[name]}: --resume "
                    "goes on with the same one (another out_dir starts anew)",
                    path,
                )
        changed = [
            f"{name} {_plain(saved[name])} -> {_plain(value)}"
            for name, value in mine.items()
            if name in saved and name not in _RUN_ONLY and _plain(saved[name]) != _plain(value)
        ]
        if changed and self.rank == 0:
            print(
                f"warning: {path}: resuming with other settings ({', '.join(changed)}); the "
                "batches and learning rates from here on are not those of the run that wrote it",
                file=sys.stderr,
                flush=True,
            )

    # -- the loss ---------------------------------------------------------------------------

    def loss(self, outputs: list[tuple[torch.Tensor, ...]], batch: dict) -> dict[str, torch.Tensor]:
        """The spec's loss terms on every stage's outputs."""
        return self._loss(outputs, batch)

    # -- the loop ---------------------------------------------------------------------------

    def _batches(self, epoch: int, skip: int):
        """The batches of `epoch` from the `skip`-th on, in an order set by (seed, epoch)."""
        sampler = DistributedSampler(
            self.dataset, self.world, self.rank, shuffle=True, seed=self.config.seed, drop_last=True
        )
        sampler.set_epoch(epoch)
        indices = list(sampler)[skip * self.config.batch_size :]
        self.dataset.epoch = epoch
        return DataLoader(
            self.dataset,
            self.config.batch_size,
            sampler=indices,
            num_workers=self.config.workers,
            drop_last=True,
        )

    def steps_per_epoch(self) -> int:
        per_rank = len(self.dataset) // self.world
        steps = per_rank // self.config.batch_size
        if steps == 0:
            raise MultiposeError(
                f"{len(self.dataset)} samples make no batch of {self.config.batch_size} "
                f"on each of {self.world} processes"
            )
        return steps

    def run(self, stop_after: int | None = None) -> list[dict[str, float]]:
        """Train to `config.steps` (or stop after step `stop_after`, as if killed, without a
        final checkpoint). Returns this call's log rows."""
        rows: list[dict[str, float]] = []
        per_epoch = self.steps_per_epoch()
        columns = (*Progress.get_default_columns(), TextColumn("{task.fields[loss]}"))
        with Progress(*columns, disable=self.rank != 0) as progress:
            task = progress.add_task(
                "training", total=self.config.steps, completed=self.step, loss=""
            )
            while self.step < self.config.steps:
                epoch, skip = divmod(self.step, per_epoch)
                for batch in self._batches(epoch, skip):
                    rows.append(self._train_step(batch))
                    progress.update(task, completed=self.step, loss=f"loss {rows[-1]['loss']:.4g}")
                    if self.config.val_every and self.step % self.config.val_every == 0:
                        rows[-1]["AP"] = self.validate()
                    if self.step % self.config.checkpoint_every == 0:
                        self.save()
                    if stop_after is not None and self.step >= stop_after:
                        return rows
                    if self.step >= self.config.steps:
                        break
        if self.config.val and rows and "AP" not in rows[-1]:
            rows[-1]["AP"] = self.validate()
        self.save()
        return rows

    def validate(self) -> float:
        """COCO AP of the current weights on `config.val` (rank 0; others wait), and best.pt
        when it is the best so far."""
        ap = -1.0
        if self.rank == 0 and self.config.val:
            dataset = CocoDataset(self.config.val)
            boxes = GroundTruthBoxes(dataset) if self.spec.pipeline.needs_boxes else None
            spec = self.spec.with_input(height=self.config.input_size[1])  # as trained
            estimator = spec.pipeline(spec, self.network, self.config.device, boxes=boxes)
            results = []
            for image_id in dataset.image_ids:
                people = estimator(dataset.read_image(image_id), image_id)
                results += people.convert(dataset.layout).to_coco(image_id, dataset.category_id)
            ap = evaluate(dataset, results)["AP"]
            self.network.train()
            print(f"step {self.step}: validation AP {ap:.3f}", flush=True)
            if ap > self.best_ap:
                self.best_ap = ap
                save_checkpoint(
                    self.out_dir / "best.pt",
                    model=self.network.state_dict(),
                    step=self.step,
                    ap=ap,
                    config=asdict(self.config),
                )
        if self.world > 1:
            dist.barrier()
        return ap

    def _train_step(self, batch: dict) -> dict[str, float]:
        batch = _to(batch, self.device)
        with torch.autocast(self.device.type, enabled=self.scaler.is_enabled()):
            terms = self.loss(self.model(batch["image"]), batch)
            total = sum(terms.values())
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if self.config.clip_grad:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.network.parameters(), self.config.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        row = {
            "step": self.step,
            "lr": self.scheduler.get_last_lr()[0],
            "loss": float(total.detach()),
            **{k: float(v.detach()) for k, v in terms.items()},
        }
        self._log(row)
        return row

    def _log(self, row: dict[str, float]) -> None:
        if self.rank != 0:
            return
        path = self.out_dir / "log.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists() or path.stat().st_size == 0 or row["step"] == 1
        with path.open("w" if new else "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
        if row["step"] % self.config.log_every == 0 or row["step"] == self.config.steps:
            terms = " ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("step", "lr"))
            print(f"step {row['step']}/{self.config.steps} lr {row['lr']:.3g} {terms}", flush=True)

    def save(self) -> None:
        if self.rank != 0:
            return
        save_checkpoint(
            self.out_dir / "last.pt",
            model=self.network.state_dict(),
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            scaler=self.scaler.state_dict(),
            step=self.step,
            world_size=self.world,
            best_ap=self.best_ap,
            rng=rng_states(),
            config=asdict(self.config),
        )


# Settings that change neither the weights nor the course of a run.
_RUN_ONLY = {
    "out_dir",
    "workers",
    "checkpoint_every",
    "log_every",
    "val",
    "val_every",
    "device",
    "weights",
}


def _plain(value: object) -> object:
    """A setting as YAML spells it (tuples as lists), for comparing and showing."""
    return list(value) if isinstance(value, (tuple, list)) else value


def _build_loss(loss: type, config: TrainConfig):
    """The spec's loss with the settings of the config that it takes (the tag loss weight)."""
    settings = {"tag_weight": config.tag_loss_weight}
    names = {f.name for f in fields(loss)} if is_dataclass(loss) else set()
    return loss(**{key: value for key, value in settings.items() if key in names})


def _to(batch: dict, device: torch.device) -> dict:
    def move(value):
        if isinstance(value, list):
            return [move(v) for v in value]
        return value.to(device, non_blocking=True)

    return {key: move(value) for key, value in batch.items()}
