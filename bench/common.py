"""What the benchmarks share: one thread, median timings, and the crowd oracle that spoils,
decodes and scores synthetic scenes of a given size."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from multipose.data.synthetic import make_dataset
from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset
from multipose.oracle import Noise
from multipose.poses import Poses
from multipose.skeleton import COCO17

cv2.setNumThreads(1)
RESULTS = Path(__file__).parent / "results"


def default_threads_env() -> dict[str, str]:
    """This process's environment without the one-thread limits set above, for a bench's
    subprocess that runs with multipose's default threads, as a user's would."""
    limits = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")
    return {k: v for k, v in os.environ.items() if k not in limits}


def openvino_precision_name() -> str:
    """What OpenVINO computes in on this CPU unless told, in words: bfloat16 or float32."""
    from multipose.runtime.openvino import default_precision

    return {"bf16": "bfloat16", "f32": "float32"}[default_precision()]


def load_average() -> str:
    """The sentence a report ends its description with: the machine's load average now."""
    return "Load average at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def write_report(name: str, lines: list[str]) -> Path:
    """Write the markdown `lines` to bench/results/`name` and return its path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text("\n".join(lines) + "\n")
    return path


def median_ms(work: Callable[[], object], repeats: int) -> float:
    """Median wall time of `work` in ms, after one untimed call (kernels compile there)."""
    work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def crowd_oracle(
    simulate: Callable[[Poses, Noise, np.random.Generator], tuple],
    decode: Callable[..., Poses],
    num_people: int,
    size: tuple[int, int],
    noise: Noise,
    images: int,
    repeats: int,
    p_missing: float = 0.0,
) -> dict[str, float]:
    """On `images` synthetic scenes of `num_people` people: `simulate(people, noise, rng)`
    gives the spoilt maps, `decode(maps)` the people. Returns the median decode time (ms), the
    oracle AP (no cap on detections), the bound (AP of the jittered ground truth itself: the
    most a decoder can reach) and the people found per true person."""
    data, scenes = make_dataset(images, num_people, *size, seed=num_people, p_missing=p_missing)
    dataset = CocoDataset("synthetic", data=data)
    rng = np.random.default_rng(0)
    results, jittered, times, found = [], [], [], 0
    for image_id, scene in enumerate(scenes, start=1):
        people, maps = simulate(scene.poses, noise, rng)
        jittered.extend(people.to_coco(image_id))
        decoded = decode(maps)
        times.append(median_ms(lambda maps=maps: decode(maps), repeats))
        found += len(decoded)
        results.extend(decoded.to_coco(image_id))
    cap = 10 * num_people
    return {
        "ms": float(np.median(times)),
        "ap": evaluate(dataset, results, max_detections=cap)["AP"],
        "bound": evaluate(dataset, jittered, max_detections=cap)["AP"],
        "ratio": found / (images * num_people),
    }


def plot_crowds(curves: dict[str, list[tuple[int, dict]]], title: str, path: Path) -> None:
    """Decode time and oracle AP against the number of people, one line per curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for label, points in curves.items():
        n = [p for p, _ in points]
        left.plot(n, [m["ms"] for _, m in points], marker="o", label=label)
        right.plot(n, [m["ap"] for _, m in points], marker="o", label=label)
    left.set(xlabel="people", ylabel="decode ms (median, one thread)", title=f"{title} time")
    right.set(xlabel="people", ylabel="oracle AP", title=f"{title} oracle AP", ylim=(0, 1.02))
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


LARGE = (96**2, float("inf"))  # COCO's large people, by area
MEDIUM = (32**2, 96**2)


def recall(
    annotations: list[dict], results: list[dict], areas: tuple[float, float]
) -> tuple[int, int]:
    """(found, total) people of area within `areas` (from, below) with >= 8 labelled
    keypoints, found = matched by a prediction (each used once, best score first) with OKS
    >= 0.5."""
    low, high = areas
    people = [
        a
        for a in annotations
        if not a.get("iscrowd") and low <= a["area"] < high and a["num_keypoints"] >= 8
    ]
    if not people:
        return 0, 0
    sigmas = np.array(COCO17.sigmas)
    variances = (2 * sigmas) ** 2
    predictions = sorted(results, key=lambda r: -r["score"])
    taken = np.zeros(len(people), bool)
    for prediction in predictions:
        xy = np.array(prediction["keypoints"], float).reshape(-1, 3)[:, :2]
        best, best_oks = -1, 0.5
        for index, person in enumerate(people):
            if taken[index]:
                continue
            gt = np.array(person["keypoints"], float).reshape(-1, 3)
            labelled = gt[:, 2] > 0
            d2 = ((xy - gt[:, :2]) ** 2).sum(1)
            oks = np.exp(-d2 / (2 * person["area"] * variances))[labelled].mean()
            if oks >= best_oks:
                best, best_oks = index, oks
        if best >= 0:
            taken[best] = True
    return int(taken.sum()), len(people)


def dataset_recall(
    dataset: CocoDataset, results: list[dict], areas: tuple[float, float]
) -> tuple[int, int]:
    """`recall` summed over the dataset's images: (found, total)."""
    counts = [
        recall(dataset.annotations(i), [r for r in results if r["image_id"] == i], areas)
        for i in dataset.image_ids
    ]
    found, total = np.sum(counts, axis=0) if counts else (0, 0)
    return int(found), int(total)


def burn_cpu(own_session: bool = True) -> None:
    """Burn one CPU, as another program would: in its own session (with the kernel's
    autogroups, a child in ours would take its CPU from our session's share alone)."""
    if own_session:
        os.setsid()
    while True:
        pass
