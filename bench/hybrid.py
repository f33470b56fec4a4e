"""The default model (the hybrid: the thin OpenPose's people as BlazePose seeds, merged), its
parts alone, the old default (BlazePose) and the hybrid's variants (before tuning, each
BlazePose step left out), side by side in one run: COCO AP, AP50, APm, APl, AR, the recall of
large and of medium people, people per image and ms per image (1 thread, so that a machine
busy with other work slows them alike; each image goes through every model in turn).

    python bench/hybrid.py [--data ...]   # writes bench/results/hybrid.md
    # tune on --data coco-mini-train2017
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import multipose
from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset
from multipose.pipelines.base import Pipeline
from multipose.specs import SPECS, ModelSpec, _hybrid

from common import LARGE, MEDIUM, dataset_recall, write_report

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATASETS = {
    "coco-mini-val2017": SHARED / "data" / "coco-mini-val2017" / "annotations.json",
    "mmpose-tests/coco": SHARED / "data" / "mmpose-tests" / "coco" / "test_coco.json",
    "coco-mini-train2017": SHARED / "data" / "coco-mini-train2017" / "annotations.json",
}
REPORTED = ("coco-mini-val2017", "mmpose-tests/coco")
DEFAULT = SPECS[multipose.DEFAULT_MODEL]
# label: (spec, changes to the hybrid pipeline: "steps" are BlazePose's, others its attributes)
MODELS = {
    "blazepose-full (the old default)": (SPECS["blazepose-full"], {}),
    "openpose-mobilenet-thin": (SPECS["openpose-mobilenet-thin"], {}),
    "thin at height 496, stage 5 (the default's first pass)": (DEFAULT.parts[0], {}),
    f"{DEFAULT.name} (the default)": (DEFAULT, {}),
    "default without the second pass for large people (the default before)": (
        DEFAULT,
        {"large_height": None},
    ),
    "hybrid before tuning (thin at 368, stage 6)": (
        _hybrid(SPECS["openpose-mobilenet-thin"], SPECS["blazepose-full"]),
        {"large_height": None, "turned_boxes": False},
    ),
    "default with seeds aligned on the skeleton (not boxes)": (DEFAULT, {"skeleton_rois": True}),
    "default with upright box seeds": (DEFAULT, {"turned_boxes": False}),
    "default without BlazePose's whole-image detector": (DEFAULT, {"steps": ("faces", "refine")}),
    "default without BlazePose's face seeds": (DEFAULT, {"steps": ("detect", "refine")}),
    "default without the refine pass": (DEFAULT, {"steps": ("detect", "faces")}),
    "mobilenet-thin+blazepose-thorough (all BlazePose's steps)": (
        SPECS["mobilenet-thin+blazepose-thorough"],
        {},
    ),
}


def _load(spec: ModelSpec, changes: dict) -> Pipeline:
    model = multipose.load(spec, threads=1)  # weights from the cache
    changes = dict(changes)
    if "steps" in changes:
        model.blazepose.steps = changes.pop("steps")
    for key, value in changes.items():
        setattr(model, key, value)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="*", choices=list(DATASETS), default=list(REPORTED))
    args = parser.parse_args()
    models = {label: _load(*how) for label, how in MODELS.items()}
    lines = [
        "# The default hybrid, its parts, the old default and the hybrid's variants",
        "",
        "Weights from `multipose weights fetch` (the cache). Recall: people with >= 8 labelled "
        "keypoints matched with OKS >= 0.5, large: area >= 96^2, medium: 32^2 to 96^2. Times: "
        "median ms per image, 1 thread, every image through each model in turn.",
        "",
        "| data | model | AP | AP50 | APm | APl | AR | recall large | recall medium | "
        "people/image | ms/image |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for data_name in args.data:
        dataset = CocoDataset(DATASETS[data_name])
        images = {i: dataset.read_image(i) for i in dataset.image_ids}
        for model in models.values():
            model(next(iter(images.values())))  # warm-up
        results = {name: [] for name in models}
        times = {name: [] for name in models}
        for image_id, image in images.items():
            for name, model in models.items():
                start = time.perf_counter()
                people = model(image, image_id)
                times[name].append(1000 * (time.perf_counter() - start))
                results[name] += people.to_coco(image_id)
        for name in models:
            m = evaluate(dataset, results[name])
            found = {}
            for key, areas in (("large", LARGE), ("medium", MEDIUM)):
                hits, total = dataset_recall(dataset, results[name], areas)
                found[key] = f"{hits / max(total, 1):.3f} ({hits}/{total})"
            row = (
                f"| {data_name} | {name} | {m['AP']:.3f} | {m['AP50']:.3f} | {m['APm']:.3f} | "
                f"{m['APl']:.3f} | {m['AR']:.3f} | {found['large']} | {found['medium']} | "
                f"{len(results[name]) / len(images):.2f} | {np.median(times[name]):.0f} |"
            )
            print(row, flush=True)
            lines.append(row)
    write_report("hybrid.md", lines)


if __name__ == "__main__":
    main()
