"""What every pipeline is (`Pipeline`: an image in, its people out), and the part that the
bottom-up and top-down pipelines share: a spec's network and codec, the flip test, timing."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np
import torch

from multipose.box_sources import BoxSource
from multipose.codecs import MapCodec
from multipose.codecs.numba_start import start_numba
from multipose.errors import MultiposeError
from multipose.pipelines.network import network_of
from multipose.poses import Poses

if TYPE_CHECKING:
    from multipose.specs import ModelSpec


class Pipeline(Protocol):
    """Callable on an RGB uint8 image (H, W, 3) and its dataset id (for box sources that need
    one); returns the people in image pixels. `batch` takes several images; `timing` holds the
    last call's milliseconds in the networks and in decoding."""

    spec: ModelSpec
    timing: dict[str, float]
    needs_boxes: ClassVar[bool]

    def __call__(self, image: np.ndarray, image_id: int | None = None) -> Poses: ...

    def batch(
        self, images: Sequence[np.ndarray], image_ids: Sequence[int | None] | None = None
    ) -> list[Poses]: ...

    @staticmethod
    def describe_input(spec: ModelSpec) -> str:
        """What the spec's network sees, as `multipose models` shows it."""
        ...


class MapPipeline(ABC):
    """A spec's network (its last stage, in PyTorch or onnxruntime) and its codec (the spec's
    unless `codec` is given). With `flip`, the maps of the mirrored input are merged with the
    input's by the codec. Subclasses give `batch`."""

    needs_boxes: ClassVar[bool] = False

    def __init__(
        self,
        spec: ModelSpec,
        network: torch.nn.Module,
        device: str = "cpu",
        scales: Sequence[float] = (1.0,),
        codec: MapCodec | None = None,
        boxes: BoxSource | None = None,
        backend: str = "auto",
        flip: bool = False,
    ) -> None:
        if not scales or any(s <= 0 for s in scales):
            raise MultiposeError(f"scales must be positive, not {list(scales)}")
        if self.needs_boxes and boxes is None:
            raise MultiposeError(f"{spec.name} is top-down: it needs a source of person boxes")
        self.spec, self.scales, self.boxes, self.flip = spec, tuple(scales), boxes, flip
        dynamic = spec.input.dynamic_size
        self.network = network_of(network, device, backend, dynamic, last_stage=True)
        self.codec: MapCodec = codec or spec.codec()
        self.timing = {"network_ms": 0.0, "decode_ms": 0.0}
        start_numba()  # while the network loads and runs, not in the first decode

    def __call__(self, image: np.ndarray, image_id: int | None = None) -> Poses:
        return self.batch([image], [image_id])[0]

    @abstractmethod
    def batch(
        self, images: Sequence[np.ndarray], image_ids: Sequence[int | None] | None = None
    ) -> list[Poses]:
        """The people of each image (ids as for a single call, None by default)."""

    def _maps(self, batch: torch.Tensor) -> list[np.ndarray]:
        """The network's last-stage maps of a batch, (N, C, h, w) each; with the flip test
        merged with those of the mirrored batch (exact: the input is mirrored whole, and map
        cells are centred on their pixels)."""
        maps = self.network(batch)
        if self.flip:
            maps = self.codec.flip_merge(maps, self.network(torch.flip(batch, dims=[3])))
        return maps

    def _timed(self, start: float, middle: float) -> None:
        self.timing = {
            "network_ms": 1000 * (middle - start),
            "decode_ms": 1000 * (time.perf_counter() - middle),
        }


def one_by_one(
    pipeline: Pipeline, images: Sequence[np.ndarray], image_ids: Sequence[int | None] | None
) -> list[Poses]:
    """The people of each image from `pipeline` called on one after the other; its `timing`
    then adds up over them."""
    image_ids = list(image_ids) if image_ids is not None else [None] * len(images)
    people, total = [], {"network_ms": 0.0, "decode_ms": 0.0}
    for image, image_id in zip(images, image_ids, strict=True):
        people.append(pipeline(image, image_id))
        total = {key: total[key] + pipeline.timing[key] for key in total}
    pipeline.timing = total
    return people


def check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise MultiposeError(
            f"expected an RGB uint8 image (H, W, 3), not {image.dtype} {image.shape}"
        )
