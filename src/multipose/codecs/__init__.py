"""Codecs: what each method's network predicts, decoded into people and, for the methods we
train, encoded from people. Pure NumPy (and numba); no torch, no I/O.

`maps` are a network's last-stage outputs as NumPy arrays, in the order of its spec's
`outputs`: for one image (bottom-up: (C, h, w) each) or for a batch of crops (top-down:
(P, C, h, w)). Decoded people are in the network's input pixels (crop pixels for top-down).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from multipose.poses import Poses
from multipose.skeleton import Layout


@runtime_checkable
class Codec(Protocol):
    """Turns a network's maps into people."""

    @property
    def layout(self) -> Layout:
        """The keypoint layout of the decoded people."""
        ...

    @property
    def stride(self) -> float:
        """Input pixels per cell of the (first) output maps."""
        ...

    def decode(self, maps: Sequence[np.ndarray]) -> Poses: ...


@runtime_checkable
class MapCodec(Codec, Protocol):
    """A codec of heatmap-like maps, which can also make a network's training targets and
    merge the maps of a mirrored input (the flip test)."""

    def encode(
        self, poses: Poses, input_size: tuple[int, int], ignore: np.ndarray | None = None
    ) -> Any:
        """Training targets for `poses` in an input of `input_size` = (width, height) pixels;
        `ignore`: (height, width) bool mask of input pixels outside the loss."""
        ...

    def flip_merge(
        self, maps: Sequence[np.ndarray], mirrored: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        """A batch's maps (N, C, h, w each) merged with those predicted on the mirrored batch
        (mapped back first: columns reversed, left and right swapped)."""
        ...
