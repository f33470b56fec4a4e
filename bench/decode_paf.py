"""Benchmark of the OpenPose PAF codec on synthetic crowds (one thread).

For 1, 5, 20, 50 and 100 people in 656x368 inputs (stride 8, 82x46 maps), ideal and noisy maps
(keypoints jittered 0.2 cell, peak heights uniform in [0.6, 1], Gaussian noise 0.03 on the
heatmaps and 0.05 on the PAFs): the median decode time, the oracle AP (COCO OKS, no cap on
detections) and the people found per true person. Two kinds of scenes: every keypoint labelled,
and 5% of keypoints left unlabelled at random (a missing shoulder leaves COCO-18 without its
neck, which splits the person). The bound is the AP of the (jittered) ground truth itself.
Also the encode time of 20 people at 368x368.

    python bench/decode_paf.py            # writes bench/results/decode_paf.{md,png}
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from multipose.codecs.paf import NUM_PARTS, PafCodec
from multipose.data.synthetic import make_dataset, make_scene
from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset
from multipose.oracle import Noise

WIDTH, HEIGHT = 656, 368
CROWDS = (1, 5, 20, 50, 100)
NOISY = Noise(jitter=0.2, peak_min=0.6, heatmap=0.03, field=0.05)
RESULTS = Path(__file__).parent / "results"


def measure(
    codec: PafCodec, num_people: int, noise: Noise, p_missing: float, images: int, repeats: int
) -> dict[str, float]:
    data, scenes = make_dataset(
        images, num_people, WIDTH, HEIGHT, seed=num_people, p_missing=p_missing
    )
    dataset = CocoDataset("synthetic", data=data)
    rng = np.random.default_rng(0)
    results, jittered, times, found = [], [], [], 0
    for image_id, scene in enumerate(scenes, start=1):
        people = noise.jittered(scene.poses, codec.stride, rng)
        jittered.extend(people.to_coco(image_id))
        heights = noise.peak_heights((len(people), NUM_PARTS), rng)
        targets = codec.encode(people, (WIDTH, HEIGHT), peak_heights=heights)
        heatmaps = noise.added(targets.heatmaps[:NUM_PARTS], noise.heatmap, rng)
        pafs = noise.added(targets.pafs, noise.field, rng)
        for _ in range(repeats):
            start = time.perf_counter()
            decoded = codec.decode(heatmaps, pafs, "coco17")
            times.append(time.perf_counter() - start)
        found += len(decoded)
        results.extend(decoded.to_coco(image_id))
    cap = 10 * max(CROWDS)
    return {
        "ms": 1000 * float(np.median(times)),
        "ap": evaluate(dataset, results, max_detections=cap)["AP"],
        "bound": evaluate(dataset, jittered, max_detections=cap)["AP"],
        "ratio": found / (images * num_people),
    }


def encode_time(codec: PafCodec, repeats: int = 50) -> float:
    scene = make_scene(20, 368, 368, seed=1)
    codec.encode(scene.poses, (368, 368))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        codec.encode(scene.poses, (368, 368))
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10, help="scenes per crowd size")
    parser.add_argument("--repeats", type=int, default=5, help="timed decodes per scene")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    codec = PafCodec()
    codec.decode(*_warm_up_maps(codec))  # compile the kernels outside the timings

    rows = []
    for p_missing in (0.0, 0.05):
        for name, noise in (("ideal", Noise()), ("noisy", NOISY)):
            for n in CROWDS:
                m = measure(codec, n, noise, p_missing, args.images, args.repeats)
                rows.append((p_missing, name, n, m))
                scores = f"AP {m['ap']:.3f} (bound {m['bound']:.3f}) found {m['ratio']:.2f}"
                print(f"{p_missing:.0%} unlabelled, {name}, {n} people: {m['ms']:.2f} ms {scores}")
    encode_ms = encode_time(codec)
    print(f"encode, 20 people at 368x368: {encode_ms:.2f} ms")
    RESULTS.mkdir(exist_ok=True)
    _write_table(rows, encode_ms, args)
    _plot(rows)


def _warm_up_maps(codec: PafCodec) -> tuple[np.ndarray, np.ndarray]:
    targets = codec.encode(make_scene(3, 128, 128, seed=0).poses, (128, 128))
    return targets.heatmaps, targets.pafs


def _write_table(rows, encode_ms: float, args) -> None:
    lines = [
        "# PAF codec: decode time and oracle AP against crowd size",
        "",
        f"656x368 input, stride 8 (82x46 maps), {args.images} synthetic scenes per size, "
        f"median of {args.repeats} decodes per scene, one thread. Noisy: jitter 0.2 cell, "
        "peak heights U(0.6, 1), noise 0.03 on heatmaps and 0.05 on PAFs. AP: COCO OKS with "
        "no cap on detections per image. Bound: AP of the jittered ground truth itself, the "
        "most any decoder can reach on those maps. Found: people decoded / true people.",
        "",
        "| unlabelled keypoints | maps | people | decode ms | oracle AP | bound | found |",
        "|---|---|---|---|---|---|---|",
    ]
    for p_missing, name, n, m in rows:
        lines.append(
            f"| {p_missing:.0%} | {name} | {n} | {m['ms']:.2f} | {m['ap']:.3f} | "
            f"{m['bound']:.3f} | {m['ratio']:.2f} |"
        )
    lines += ["", f"Encode of 20 people at 368x368: {encode_ms:.2f} ms.", ""]
    (RESULTS / "decode_paf.md").write_text("\n".join(lines))


def _plot(rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for p_missing, name in ((0.0, "ideal"), (0.0, "noisy"), (0.05, "ideal"), (0.05, "noisy")):
        sel = [(n, m) for pm, nm, n, m in rows if pm == p_missing and nm == name]
        label = f"{name}, {p_missing:.0%} unlabelled"
        left.plot([n for n, _ in sel], [m["ms"] for _, m in sel], marker="o", label=label)
        right.plot([n for n, _ in sel], [m["ap"] for _, m in sel], marker="o", label=label)
    left.set(xlabel="people", ylabel="decode ms (median, one thread)", title="PAF decode time")
    right.set(xlabel="people", ylabel="oracle AP", title="PAF oracle AP", ylim=(0, 1.02))
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "decode_paf.png", dpi=100)


if __name__ == "__main__":
    main()
