"""The Ray executor of a job's images (`multipose estimate --ray ADDRESS`), for folders too
large for one machine.

The driver checks which images are done (with `resume`), sends the others' paths through an
actor pool, each actor loading the model once and then reading, estimating and writing the
outputs of its batches of images with the bookkeeping of the local executor, and gathers one
row per image into a `Summary`, as `runner.local.estimate_images` gives it; the job writes
the COCO file.

It assumes a shared filesystem: every node sees the images, the weights, the detections file and
the output folder at the same paths as the driver (relative paths are taken from the driver's
working folder), and has multipose installed with the `ray` extra. Without `--weights`, each
node looks in its own user cache.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from multipose.errors import MultiposeError
from multipose.runner.images import Ledger, Summary, estimate_batch, images_to_do, read
from multipose.runner.model import ModelChoice
from multipose.runner.outputs import Outputs
from multipose.runner.register import Entry

if TYPE_CHECKING:
    from multipose.pipelines import Pipeline


def require_ray() -> ModuleType:
    """The `ray` module with Ray Data, or a MultiposeError telling how to install it."""
    try:
        import ray
        import ray.data  # Ray Data: pandas and pyarrow besides ray
    except ImportError:
        raise MultiposeError("--ray needs Ray Data: pip install 'multipose[ray]'") from None
    return ray


def load_on_node(model: ModelChoice, cwd: str) -> Pipeline:
    """`model` loaded in a Ray worker moved to the driver's working folder `cwd`, so that
    relative paths mean what they mean to the driver."""
    try:
        os.chdir(cwd)
    except OSError:
        raise MultiposeError(
            f"the driver's working folder {cwd} is not on this Ray node: the job needs a shared "
            "filesystem at the same paths"
        ) from None
    return model.load()


def _check_load(model: ModelChoice, cwd: str) -> None:
    """`load_on_node`, as a Ray task whose result stays on the node."""
    load_on_node(model, cwd)


class EstimateBatch:
    """A Ray Data actor: loads the model once, then estimates batches of rows (index, path,
    image_id, name: an image's `Entry`), writes each image's outputs and returns one row per
    image: index, path, error (its failure line if it could not be read or estimated, else "")
    and summary (its `Summary` as JSON text)."""

    def __init__(self, model: ModelChoice, outputs: Outputs, min_score: float, cwd: str) -> None:
        self.estimate = load_on_node(model, cwd).batch
        self.outputs, self.min_score = outputs, min_score

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        entries = [
            Entry(Path(path), int(ident), str(name))
            for path, ident, name in zip(
                batch["path"], batch["image_id"], batch["name"], strict=True
            )
        ]
        items = [(entry, *read(entry.path)) for entry in entries]
        rows: dict[str, list] = {
            "index": [int(index) for index in batch["index"]],
            "path": [str(entry.path) for entry in entries],
            "error": [],
            "summary": [],
        }
        for (entry, image, _), found in zip(
            items, estimate_batch(self.estimate, items), strict=True
        ):
            ledger = Ledger(self.outputs, self.min_score)
            rows["error"].append(ledger.book(entry, image, found) or "")
            ledger.settle()
            rows["summary"].append(json.dumps(asdict(ledger.summary)))
        return rows


def estimate_images_on_ray(
    address: str,
    model: ModelChoice,
    entries: Sequence[Entry],
    outputs: Outputs,
    min_score: float = 0.0,
    resume: bool = False,
    batch_size: int = 1,
    actors: int | None = None,
    on_image: Callable[[Path, str | None], None] | None = None,
    summary: Summary | None = None,
) -> Summary:
    """`runner.local.estimate_images` on the Ray cluster at `address` (what `ray.init` takes:
    a head node's host:port, "auto" for the cluster started on this machine, "local" for a new
    one in this process): `actors` actors of `model` (default: as many as Ray sees fit, each
    with a GPU where `model.device` is cuda), `batch_size` images per call. One Ray task first
    loads the model on the cluster, so that bad weights or a missing shared folder are one
    clear error. `on_image(path, error)` is called as each image comes back; `summary` (a new
    one if None) lists them in the order of `entries`, those that came back before Ctrl-C
    too."""
    ray = require_ray()
    summary = Summary() if summary is None else summary
    skipped, todo = images_to_do(entries, outputs, resume)
    summary.add(skipped)
    if not todo:
        return summary
    rows: list[dict] = []
    _connect(ray, address)
    try:
        gpus = 1 if model.device.startswith("cuda") else 0
        check = ray.remote(_check_load).options(num_gpus=gpus, max_retries=0)
        try:
            ray.get(check.remote(model, os.getcwd()))
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, MultiposeError):
                raise exc.cause from None
            raise
        ray.data.DataContext.get_current().enable_progress_bars = False  # ours is on_image
        items = [
            {"index": i, "path": str(entry.path), "image_id": entry.id, "name": entry.name}
            for i, entry in enumerate(todo)
        ]
        dataset = ray.data.from_items(items).map_batches(
            EstimateBatch,
            fn_constructor_args=(model, outputs, min_score, os.getcwd()),
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=actors)
            if actors
            else ray.data.ActorPoolStrategy(min_size=1, max_size=None),
            num_gpus=gpus,
        )
        for row in dataset.iter_rows():
            rows.append(row)
            if on_image:
                on_image(Path(row["path"]), row["error"] or None)
    finally:
        ray.shutdown()
        for row in sorted(rows, key=lambda row: row["index"]):
            summary.add(Summary(**json.loads(row["summary"])))
    return summary


def _connect(ray: ModuleType, address: str) -> None:
    """`ray.init(address)`; a head node's host:port is first knocked on, since `ray.init`
    waits for minutes on an address where nothing answers."""
    host, _, port = address.rpartition(":")
    if host and port.isdigit() and "://" not in address:
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except OSError as exc:
            raise MultiposeError(
                f"no Ray cluster answers at {address} ({exc}): start one with `ray start --head`"
            ) from None
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise MultiposeError(
            f"cannot join the Ray cluster at {address} ({exc}; where the cluster has token "
            "authentication, set RAY_AUTH_MODE=token)"
        ) from None
