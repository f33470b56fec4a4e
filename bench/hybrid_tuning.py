"""Tuning the default hybrid on coco-mini-train2017: its variants side by side (COCO AP, APl,
AR, the recall of large and of medium people, people per image, and the median ms per image of
the BlazePose part and the fusion, the only part that varies). The thin network runs once per
image; each variant decodes its maps and runs the rest, every image through each variant in
turn, on one thread.

    cd bench && python hybrid_tuning.py [--data coco-mini-train2017] [--variants NAME ...]
    # writes bench/results/hybrid_tuning_train2017.md (or _val2017)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import multipose
from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset
from multipose.pipelines.hybrid import LARGE_HEIGHT, STEPS
from multipose.poses import Poses

from common import LARGE, MEDIUM, dataset_recall, write_report

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DATASETS = {
    name: DATA / name / "annotations.json" for name in ("coco-mini-train2017", "coco-mini-val2017")
}

# label: attributes of the default's HybridPipeline to change (its class variables), and
# "codec": fields of the thin part's PafCodec to change, "steps": BlazePose's steps
VARIANTS: dict[str, dict] = {
    "the default (second pass for large people at height 200)": {},
    "without the second pass (the default before)": {"large_height": None},
    "second pass at height 192": {"large_height": 192},
    "second pass at height 248": {"large_height": 248},
    "without BlazePose's whole-image detector": {"steps": ("faces", "refine")},
    "without BlazePose's face seeds": {"steps": ("detect", "refine")},
    "without BlazePose's detector and face seeds": {"steps": ("refine",)},
    "without the refine pass": {"steps": ("detect", "faces")},
    "upright box seeds": {"turned_boxes": False},
    "seeds aligned on the skeleton (circle 1.1 x the farthest keypoint)": {"skeleton_rois": True},
    "with re-detection": {"steps": ("detect", "faces", "refine", "redetect")},
}


class CachedMaps:
    """The thin network's part of the hybrid with its maps computed once per image and input
    height (the first pass's and the large people's): decodes the maps of the image `current`
    names."""

    def __init__(self, pipeline: object, heights: tuple[int | None, ...]) -> None:
        self.pipeline, self.codec, self.spec = pipeline, pipeline.codec, pipeline.spec
        self.heights, self.cache, self.current = heights, {}, None
        self.timing = {"network_ms": 0.0, "decode_ms": 0.0}

    def compute(self, image_id: int, image: np.ndarray) -> None:
        for height in self.heights:
            self.cache[image_id, height] = self.pipeline.maps(image, height)

    def maps(self, image: np.ndarray, input_height: int | None = None) -> tuple:
        return self.cache[self.current, input_height]

    def __call__(self, image: np.ndarray) -> Poses:
        maps, base = self.maps(image)
        return self.codec.decode(maps).resized(1 / base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=list(DATASETS), default="coco-mini-train2017")
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    model = multipose.load(multipose.DEFAULT_MODEL, threads=1)
    dataset = CocoDataset(DATASETS[args.data])
    heights = {None, *(VARIANTS[name].get("large_height", LARGE_HEIGHT) for name in args.variants)}
    cached = CachedMaps(model.bottom_up, tuple(heights))
    images = {}
    for image_id in dataset.image_ids:
        images[image_id] = dataset.read_image(image_id)
        cached.compute(image_id, images[image_id])
    model.bottom_up, codec = cached, cached.codec
    results = {name: [] for name in args.variants}
    times = {name: [] for name in args.variants}
    for image_id, image in images.items():
        cached.current = image_id
        for name in args.variants:
            changes = dict(VARIANTS[name])
            cached.codec = replace(codec, **changes.pop("codec", {}))
            model.blazepose.steps = changes.pop("steps", STEPS)
            for key, value in changes.items():
                setattr(model, key, value)
            start = time.perf_counter()
            results[name] += model(image, image_id).to_coco(image_id)
            times[name].append(1000 * (time.perf_counter() - start))
            for key in changes:
                delattr(model, key)
    lines = [
        f"# The default hybrid's variants on {args.data}",
        "",
        "`cd bench && python hybrid_tuning.py` (one thread). Recall: people with >= 8 labelled "
        "keypoints matched with OKS >= 0.5; large: area >= 96^2, medium: 32^2 to 96^2. ms: "
        "median per image of the BlazePose part and the fusion (the thin network's maps are "
        "computed once).",
        "",
        "| variant | AP | APl | AR | recall large | recall medium | people/image | ms/image |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in args.variants:
        with contextlib.redirect_stdout(io.StringIO()):
            m = evaluate(dataset, results[name])
        found = {}
        for key, areas in (("large", LARGE), ("medium", MEDIUM)):
            hits, total = dataset_recall(dataset, results[name], areas)
            found[key] = f"{hits}/{total}"
        row = (
            f"| {name} | {m['AP']:.3f} | {m['APl']:.3f} | {m['AR']:.3f} | {found['large']} | "
            f"{found['medium']} | {len(results[name]) / len(images):.2f} | "
            f"{np.median(times[name]):.0f} |"
        )
        print(row, flush=True)
        lines.append(row)
    write_report(f"hybrid_tuning_{args.data.split('-')[-1]}.md", lines)


if __name__ == "__main__":
    main()
