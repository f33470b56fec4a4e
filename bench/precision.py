"""The default model's AP with its networks in bfloat16 (backend "openvino": OpenVINO's choice
on CPUs with AMX) against float32 (OpenVINO told so; onnxruntime, "auto"), beside the AP
that float32 gives on the same images with a +-1 grey-level noise added (three seeds): how far
an imperceptible change of the input moves AP on these small sets. coco-mini-val2017 and
coco-mini-train2017, 2 threads; each image goes through every row in turn (OpenVINO's float32
row apart, after them: its precision is set while it runs).

    python bench/precision.py   # writes bench/results/precision.md
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np

import multipose
from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset
from multipose.pipelines import network
from multipose.threads import use_threads

from common import load_average, openvino_precision_name, write_report

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
THREADS = 2
NOISE_SEEDS = (0, 1, 2)


@contextmanager
def openvino_precision(precision: str) -> Iterator[None]:
    """OpenVINO's networks made meanwhile compute at `precision`."""
    runner, require = network.RUNTIMES["openvino"]
    network.RUNTIMES["openvino"] = (partial(runner, precision=precision), require)
    try:
        yield
    finally:
        network.RUNTIMES["openvino"] = (runner, require)


def _noisy(image: np.ndarray, seed: int, image_id: int) -> np.ndarray:
    rng = np.random.default_rng([seed, image_id])
    noise = rng.integers(-1, 2, image.shape, dtype=np.int16)
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def _record(pipeline, image: np.ndarray, image_id: int, times: list, results: list) -> None:
    """Time the pipeline on the image; keep the ms and its people (COCO results)."""
    start = time.perf_counter()
    people = pipeline(image)
    times.append(1000 * (time.perf_counter() - start))
    results += people.to_coco(image_id)


def main() -> None:
    use_threads(THREADS)
    exact = multipose.load(threads=THREADS)
    rows = {
        f"openvino: its choice on this CPU ({openvino_precision_name()})": (
            multipose.load(backend="openvino", threads=THREADS),
            None,
        ),
        "onnxruntime (auto), float32": (exact, None),
    }
    for seed in NOISE_SEEDS:
        rows[f"onnxruntime (auto), input +-1 grey level (seed {seed})"] = (exact, seed)
    lines = [
        "# The default model in bfloat16 and float32",
        "",
        f"`python bench/precision.py`: {multipose.DEFAULT_MODEL}, {THREADS} threads, every "
        "image through each row in turn; AP (COCO keypoints); median ms per image. The noise "
        "rows add a uniform integer noise in [-1, 1] to each pixel's channels.",
        "",
        "| data | networks | AP | people/image | median ms |",
        "|---|---|---:|---:|---:|",
    ]
    single = "openvino told float32 (apart)"
    f32 = multipose.load(backend="openvino", threads=THREADS)
    for data in ("coco-mini-val2017", "coco-mini-train2017"):
        dataset = CocoDataset(SHARED / data / "annotations.json")
        images = {i: dataset.read_image(i) for i in dataset.image_ids}
        results = {label: [] for label in [*rows, single]}
        times = {label: [] for label in results}
        for image_id, image in images.items():
            for label, (pipeline, seed) in rows.items():
                given = image if seed is None else _noisy(image, seed, image_id)
                _record(pipeline, given, image_id, times[label], results[label])
        with openvino_precision("f32"):  # its networks are made on their first calls
            for image_id, image in images.items():
                _record(f32, image, image_id, times[single], results[single])
        for label in results:
            ap = evaluate(dataset, results[label])["AP"]
            count = len(results[label]) / len(dataset.image_ids)
            row = f"| {data} | {label} | {ap:.3f} | {count:.2f} | {np.median(times[label]):.0f} |"
            print(row, flush=True)
            lines.append(row)
    lines[2] += " " + load_average()
    write_report("precision.md", lines)


if __name__ == "__main__":
    main()
