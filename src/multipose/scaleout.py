"""The job over image files as a Ray Data job (`multipose estimate --ray ADDRESS`), for folders
too large for one machine.

The driver checks which images are done (with `resume`), sends the others' paths through an
actor pool, each actor loading the model once and then reading, estimating and writing the
outputs of its batches of images, and gathers one row per image into a `Summary`, as
`runner.estimate_images` gives it; the caller writes the COCO file.

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
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from multipose.box_sources import DetectionFile
from multipose.errors import MultiposeError
from multipose.loading import load
from multipose.pipelines import Pipeline
from multipose.runner import Outputs, Summary, images_to_do, read, write_failure


@dataclass(frozen=True)
class ModelArgs:
    """The arguments of `pipelines.load` that each actor loads its model with (`boxes`: the
    path of a COCO detections file)."""

    name: str
    weights: str | None = None
    device: str = "cpu"
    scales: tuple[float, ...] = (1.0,)
    boxes: Path | None = None
    backend: str = "torch"
    flip: bool = False

    def load(self) -> Pipeline:
        source = DetectionFile(self.boxes) if self.boxes is not None else None
        return load(
            self.name, self.weights, self.device, self.scales, source, self.backend, self.flip
        )


def require_ray() -> ModuleType:
    """The `ray` module with Ray Data, or a MultiposeError telling how to install it."""
    try:
        import ray
        import ray.data  # Ray Data: pandas and pyarrow besides ray
    except ImportError:
        raise MultiposeError("--ray needs Ray Data: pip install 'multipose[ray]'") from None
    return ray


def load_on_node(model: ModelArgs, cwd: str) -> Pipeline:
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


def _check_load(model: ModelArgs, cwd: str) -> None:
    """`load_on_node`, as a Ray task whose result stays on the node."""
    load_on_node(model, cwd)


class EstimateBatch:
    """A Ray Data actor: loads the model once, then estimates batches of rows (index, path,
    image_id), writes each image's outputs and returns one row per image: index, path,
    image_id, people (their number), coco (their COCO results as JSON text), error (why the
    image could not be read, else "") and write_error (why its outputs could not be written,
    else "")."""

    def __init__(self, model: ModelArgs, outputs: Outputs, min_score: float, cwd: str) -> None:
        self.estimate = load_on_node(model, cwd).batch
        self.outputs, self.min_score = outputs, min_score

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        paths = [Path(path) for path in batch["path"]]
        ids = [int(ident) for ident in batch["image_id"]]
        rows: dict[str, list] = {
            "index": [int(index) for index in batch["index"]],
            "path": [str(path) for path in paths],
            "image_id": ids,
            "people": [0] * len(paths),
            "coco": ["[]"] * len(paths),
            "error": [""] * len(paths),
            "write_error": [""] * len(paths),
        }
        images = {}
        for row, path in enumerate(paths):
            image, error = read(path)
            if error:
                rows["error"][row] = error
            else:
                images[row] = image
        if not images:
            return rows
        try:
            found = self.estimate(list(images.values()), [ids[row] for row in images])
        except MultiposeError as exc:  # as the local job: these images fail, the job goes on
            for row in images:
                rows["error"][row] = f"{paths[row]}: {exc}"
            return rows
        for (row, image), people in zip(images.items(), found, strict=True):
            people = people.filter(min_score=self.min_score)
            rows["people"][row] = len(people)
            rows["coco"][row] = json.dumps(people.to_coco(ids[row]))
            try:
                self.outputs.write(paths[row].stem, image, people)
            except Exception as exc:
                rows["write_error"][row] = write_failure(paths[row], exc)
        return rows


def estimate_images_on_ray(
    address: str,
    model: ModelArgs,
    paths: Sequence[Path],
    outputs: Outputs,
    min_score: float = 0.0,
    resume: bool = False,
    batch_size: int = 1,
    actors: int | None = None,
    on_image: Callable[[Path, str | None], None] | None = None,
) -> Summary:
    """`runner.estimate_images` on the Ray cluster at `address` (what `ray.init` takes: a head
    node's host:port, "auto" for the cluster started on this machine, "local" for a new one in
    this process): `actors` actors of `model` (default: as many as Ray sees fit, each with a
    GPU where `model.device` is cuda), `batch_size` images per call. One Ray task first loads
    the model on the cluster, so that bad weights or a missing shared folder are one clear
    error. `on_image(path, error)` is called as each image comes back; the summary lists
    them in the order of `paths`."""
    ray = require_ray()
    summary, todo = images_to_do(paths, outputs, resume)
    if not todo:
        return summary
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
            {"index": i, "path": str(path), "image_id": ident}
            for i, (path, ident) in enumerate(todo)
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
        rows = []
        for row in dataset.iter_rows():
            rows.append(row)
            if on_image:
                on_image(Path(row["path"]), row["error"] or None)
    finally:
        ray.shutdown()
    for row in sorted(rows, key=lambda row: row["index"]):
        if row["error"]:
            summary.failures.append(row["error"])
            continue
        summary.images += 1
        summary.people += int(row["people"])
        summary.results += json.loads(row["coco"])
        if row["write_error"]:
            summary.failures.append(row["write_error"])
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
