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
            raise MultiposeError(f"not valid YAML: {_yaml_problem(exc)}", path) from None
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
        try:
            return cls(**raw)
        except MultiposeError as exc:
            raise MultiposeError(str(exc), path) from None

    def __post_init__(self) -> None:
        """Settings out of range are refused here, not as a crash (or a hang) mid-run."""
        at_least = {
            "batch_size": 1,
            "steps": 1,
            "synthetic_images": 1,
            "synthetic_people": 0,
            "warmup_steps": 0,
            "workers": 0,
            "checkpoint_every": 1,
            "log_every": 1,
            "val_every": 0,
        }
        for name, low in at_least.items():
            if getattr(self, name) < low:
                raise MultiposeError(f"{name}: {getattr(self, name)} is below {low}")
        for name in ("lr", "weight_decay", "clip_grad", "tag_loss_weight"):
            if not getattr(self, name) >= 0:  # NaN too
                raise MultiposeError(f"{name}: {getattr(self, name)} is not a number >= 0")
        if not self.lr > 0:
            raise MultiposeError(f"lr: {self.lr} is not above 0")
        size = tuple(self.input_size)
        if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
            raise MultiposeError(f"input_size: {list(size)} is not a width and a height in pixels")
        if not all(isinstance(f, (int, float)) and 0 < f <= 1 for f in self.step_at):
            raise MultiposeError(f"step_at: {list(self.step_at)} are not fractions of the steps")
        for name, choices in (("optimizer", ("adamw", "sgd")), ("schedule", ("cosine", "step"))):
            if getattr(self, name) not in choices:
                raise MultiposeError(
                    f"{name}: {getattr(self, name)!r} is not one of {', '.join(choices)}"
                )


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error on one line: the problem and where (its own text quotes the lines)."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return (
        problem if mark is None else f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    )
