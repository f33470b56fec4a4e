"""Training configuration, read from YAML: every field has a default but the model and data."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from multipose.errors import MultiposeError


@dataclass
class TrainConfig:
    """model: a spec name; data: a COCO annotation file, or "synthetic" (scenes made on the
    fly: `synthetic_images` of `synthetic_people` people); input_size (width, height) of the
    network (a top-down spec's crop size is its codec's); steps in all; optimizer "adamw" or
    "sgd"; lr with `warmup_steps` of linear warm-up then "cosine" decay or "step" (x0.1 at
    `step_at` fractions); clip_grad (0: none); amp on CUDA; checkpoint_every steps; weights:
    a file to fine-tune from (any format the spec's importer reads); val: a COCO annotation
    file scored (COCO AP, with the codec's decoder) every `val_every` steps and at the end,
    keeping the best weights in best.pt."""

    model: str
    data: str
    out_dir: str = "runs/train"
    image_dir: str | None = None
    synthetic_images: int = 64
    synthetic_people: int = 4
    input_size: tuple[int, int] = (256, 256)
    batch_size: int = 8
    steps: int = 1000
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    schedule: str = "cosine"
    step_at: tuple[float, ...] = (0.7, 0.9)
    clip_grad: float = 0.0
    amp: bool = False
    workers: int = 2
    seed: int = 0
    checkpoint_every: int = 200
    log_every: int = 10
    augment: bool = True
    sync_batchnorm: bool = False
    weights: str | None = None
    tag_loss_weight: float = 1e-3
    val: str | None = None
    val_every: int = 0
    device: str = "cpu"

    @classmethod
    def read(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise MultiposeError("no such file", path) from None
        except yaml.YAMLError as exc:
            raise MultiposeError(f"not valid YAML ({exc})", path) from None
        if not isinstance(raw, dict):
            raise MultiposeError("a training config is a mapping of settings", path)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise MultiposeError(f"unknown settings: {', '.join(unknown)}", path)
        missing = [name for name in ("model", "data") if name not in raw]
        if missing:
            raise MultiposeError(f"missing settings: {', '.join(missing)}", path)
        for f in fields(cls):
            value = raw.get(f.name)
            if value is None:
                continue
            try:  # YAML reads 1e-3 (no dot) as a string
                if isinstance(f.default, tuple):
                    raw[f.name] = tuple(value)
                elif isinstance(f.default, bool):
                    raw[f.name] = bool(value)
                elif isinstance(f.default, (int, float)):
                    raw[f.name] = type(f.default)(value)
            except (TypeError, ValueError):
                raise MultiposeError(f"{f.name}: {value!r} is not a valid value", path) from None
        return cls(**raw)
