"""Training datasets: samples of images with their people (a COCO keypoint dataset, or
synthetic scenes), augmented, normalised as a model spec says, with the codec's targets.

- `BottomUpDataset`: whole images fitted into the input (scale, rotation, translation, flip),
  with the method's targets (OpenPose heatmaps + PAFs, or Associative Embedding heatmaps +
  joint indices) and the loss mask of crowd regions and people without keypoints.
- `TopDownDataset`: one sample per labelled person: its box cropped (with the same kinds of
  augmentation) to the crop size, with heatmaps and per-keypoint weights.

Targets are built in `__getitem__`, hence in the DataLoader's worker processes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from multipose.data.synthetic import Scene
from multipose.data.transforms import NO_AUGMENT, Augment, fit_matrix, jitter_colour, warp_sample
from multipose.geometry import box_regions, check_boxes
from multipose.io.coco import CocoDataset
from multipose.poses import Poses
from multipose.preprocess import normalise

if TYPE_CHECKING:
    from multipose.specs import ModelSpec


class Source(Protocol):
    """Images with their people and ignore masks."""

    def __len__(self) -> int: ...

    def sample(self, index: int) -> tuple[np.ndarray, Poses, np.ndarray | None]: ...


@dataclass
class CocoSource:
    """A COCO keypoint dataset's images (those with at least one labelled person)."""

    dataset: CocoDataset

    def __post_init__(self) -> None:
        self.ids = [i for i in self.dataset.image_ids if len(self.dataset.people(i))]

    def __len__(self) -> int:
        return len(self.ids)

    def sample(self, index: int) -> tuple[np.ndarray, Poses, np.ndarray | None]:
        image_id = self.ids[index]
        return (
            self.dataset.read_image(image_id),
            self.dataset.people(image_id),
            self.dataset.ignore_mask(image_id),
        )


@dataclass
class SceneSource:
    """Synthetic scenes, rendered."""

    scenes: list[Scene]

    def __len__(self) -> int:
        return len(self.scenes)

    def sample(self, index: int) -> tuple[np.ndarray, Poses, np.ndarray | None]:
        scene = self.scenes[index]
        return scene.render(seed=index), scene.poses, None


def _as_tensors(targets: object) -> dict[str, object]:
    out = {}
    for key, value in asdict(targets).items():
        if isinstance(value, list):
            out[key] = [torch.from_numpy(np.asarray(v)) for v in value]
        else:
            out[key] = torch.from_numpy(np.asarray(value))
    return out


class BottomUpDataset(Dataset):
    """Whole images fitted into inputs of `input_size` = (width, height), with the spec's
    codec's targets."""

    def __init__(
        self,
        source: Source,
        spec: ModelSpec,
        input_size: tuple[int, int],
        augment: Augment = NO_AUGMENT,
        seed: int = 0,
    ) -> None:
        self.source, self.spec, self.input_size = source, spec, input_size
        self.augment, self.seed, self.codec = augment, seed, spec.codec()
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.source)

    def _rng(self, index: int) -> np.random.Generator:
        """Reproducible per sample and epoch (workers and resumed runs draw the same)."""
        return np.random.default_rng((self.seed, self.epoch, index))

    def __getitem__(self, index: int) -> dict[str, object]:
        rng = self._rng(index)
        image, poses, ignore = self.source.sample(index)
        h, w = image.shape[:2]
        matrix, flipped = fit_matrix(
            np.array([(w - 1) / 2, (h - 1) / 2]), max(w, h), self.input_size, rng, self.augment
        )
        image, poses, ignore = warp_sample(image, poses, ignore, matrix, flipped, self.input_size)
        image = jitter_colour(image, self.augment.colour, rng)
        targets = self.codec.encode(poses, self.input_size, ignore=ignore)
        return {"image": normalise(image, self.spec.input), **_as_tensors(targets)}


class TopDownDataset(Dataset):
    """One sample per labelled person, cropped to the spec's codec's crop size (`input_size`
    is not used: the codec's sets the crops), with its heatmaps and keypoint weights."""

    def __init__(
        self,
        source: Source,
        spec: ModelSpec,
        input_size: tuple[int, int] | None = None,
        augment: Augment = NO_AUGMENT,
        seed: int = 0,
        padding: float = 1.25,
    ) -> None:
        self.source, self.spec, self.augment, self.seed = source, spec, augment, seed
        self.codec = spec.codec()
        self.padding, self.epoch = padding, 0
        self.people: list[tuple[int, int]] = []  # (sample, person)
        for i in range(len(source)):
            image, poses, _ = source.sample(i)
            boxes = poses.boxes if poses.boxes is not None else poses.keypoint_boxes()
            _, problems = check_boxes(boxes, image.shape[1::-1])
            self.people += [(i, p) for p, problem in enumerate(problems) if problem is None]

    def __len__(self) -> int:
        return len(self.people)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        sample, person = self.people[index]
        image, poses, _ = self.source.sample(sample)
        poses = poses[person]
        boxes = poses.boxes if poses.boxes is not None else poses.keypoint_boxes()
        width, height = self.codec.input_size
        centre, size = box_regions(boxes, width / height, self.padding)
        matrix, flipped = fit_matrix(
            centre[0], size[0, 1] * min(width, height) / height, (width, height), rng, self.augment
        )
        crop, poses, _ = warp_sample(image, poses, None, matrix, flipped, (width, height))
        crop = jitter_colour(crop, self.augment.colour, rng)
        targets = self.codec.encode(poses, (width, height))
        return {
            "image": normalise(crop, self.spec.input),
            "heatmaps": torch.from_numpy(targets.heatmaps[0]),
            "weights": torch.from_numpy(targets.weights[0]),
            "matrix": torch.from_numpy(matrix),
        }
