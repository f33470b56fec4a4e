"""What the flip test and multi-scale inference buy a bottom-up model: COCO AP of the real
OpenPose MobileNetV2 weights (tf-pose-estimation's mobilenet_v2_small) on
../shared/data/coco-mini-val2017 and ../shared/data/mmpose-tests/coco, plain, with `flip`,
with scales 1 and 1.5 (input height 368 x each scale), and both, through `multipose.load`
as `multipose estimate` runs it (2 threads), with the mean ms per image.

    python bench/flip_scales.py          # writes bench/results/flip_scales.md
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

import multipose
from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset

from common import write_report

SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = SHARED / "weights" / "tf-pose-mobilenet_v2_small" / "graph_opt.pb"
DATASETS = {
    "coco-mini-val2017": SHARED / "data" / "coco-mini-val2017" / "annotations.json",
    "mmpose-tests/coco": SHARED / "data" / "mmpose-tests" / "coco" / "test_coco.json",
}
RUNS = {
    "plain": {},
    "flip": {"flip": True},
    "scales 1, 1.5": {"scales": (1.0, 1.5)},
    "flip, scales 1, 1.5": {"flip": True, "scales": (1.0, 1.5)},
}


def main() -> None:
    torch.set_num_threads(2)
    lines = [
        "# Flip test and multi-scale: openpose-mobilenet-v2, input height 368",
        "",
        "| data | run | AP | AP50 | AR | ms per image |",
        "|---|---|---|---|---|---|",
    ]
    for data_name, path in DATASETS.items():
        dataset = CocoDataset(path)
        images = {i: dataset.read_image(i) for i in dataset.image_ids}
        for run, options in RUNS.items():
            estimator = multipose.load("openpose-mobilenet-v2", WEIGHTS, **options)
            results = []
            start = time.perf_counter()
            for image_id, image in images.items():
                results += estimator(image, image_id).convert("coco17").to_coco(image_id)
            ms = 1000 * (time.perf_counter() - start) / len(images)
            m = evaluate(dataset, results)
            metrics = f"{m['AP']:.3f} | {m['AP50']:.3f} | {m['AR']:.3f}"
            row = f"| {data_name} | {run} | {metrics} | {ms:.0f} |"
            print(row)
            lines.append(row)
    write_report("flip_scales.md", lines)


if __name__ == "__main__":
    main()
