"""COCO AP, recall of large people and speed of the default model, BlazePose (mediapipe
0.10.21's TFLite person detector and full-body landmark network) run by our executor, with each
multi-person step of the pipeline on and off.

For every image of ../shared/data/coco-mini-val2017 and ../shared/data/mmpose-tests/coco, per
configuration of steps: COCO AP (our evaluate), the recall of large people (area >= 96^2, at
least 8 labelled keypoints; a person counts as found when a prediction matches it with OKS >=
0.5, greedily by score), people found per image, and the median ms per image (2 threads), split
into the networks and the rest.

    python bench/real_model_blazepose.py [--weights DIR] [--configs ...] [--data ...]
    # writes bench/results/real_model_blazepose.md; tune on --data coco-mini-train2017
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset
from multipose.pipelines.blazepose import STEPS, BlazePosePipeline
from multipose.specs import get_spec

from common import LARGE, median_ms, recall, write_report

SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = SHARED / "weights" / "mediapipe-0.10.21"
DATASETS = {
    "coco-mini-val2017": SHARED / "data" / "coco-mini-val2017" / "annotations.json",
    "mmpose-tests/coco": SHARED / "data" / "mmpose-tests" / "coco" / "test_coco.json",
    "coco-mini-train2017": SHARED / "data" / "coco-mini-train2017" / "annotations.json",
}
REPORTED = ("coco-mini-val2017", "mmpose-tests/coco")  # train is for tuning: --data
CONFIGS = {
    "detector only": (),
    "+ refine": ("refine",),
    "+ refine, tiles": ("refine", "tiles"),
    "+ refine, faces": ("refine", "faces"),
    "+ refine, redetect": ("refine", "redetect"),
    "all steps": STEPS,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--data", nargs="*", choices=list(DATASETS), default=list(REPORTED))
    args = parser.parse_args()
    torch.set_num_threads(2)
    spec = get_spec("blazepose-full")
    networks = spec.load(args.weights)
    speed = stage_times(BlazePosePipeline(spec, networks))  # first, on a quiet machine
    print("\n".join(speed))
    lines = [
        "# BlazePose (the default model): COCO AP, recall of large people, speed",
        "",
        "mediapipe 0.10.21's pose_detection + pose_landmark_full through our TFLite executor "
        "(PyTorch, 2 threads). Recall: people with area >= 96^2 and >= 8 labelled keypoints "
        "matched with OKS >= 0.5. Times: median ms per image. People are ranked by pose "
        "presence times the mean heatmap peak of their COCO keypoints (before: times their mean "
        "visibility, all steps AP 0.180 on coco-mini-val2017 and 0.372 on mmpose-tests/coco); "
        "people scoring under 0.3 are dropped (all steps on coco-mini-val2017: 0.82 people per "
        "image before, same AP).",
        "",
        "| data | steps | AP | AP50 | AR | recall large | people/image | ms/image | "
        "network ms | other ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for data_name in args.data:
        dataset = CocoDataset(DATASETS[data_name])
        images = {i: dataset.read_image(i) for i in dataset.image_ids}
        for config in args.configs:
            estimator = BlazePosePipeline(spec, networks, steps=CONFIGS[config])
            estimator(next(iter(images.values())))  # warm-up
            results, found, total_ms, network_ms = [], 0, [], []
            matched, large = 0, 0
            for image_id, image in images.items():
                start = time.perf_counter()
                people = estimator(image)
                total_ms.append(1000 * (time.perf_counter() - start))
                network_ms.append(estimator.timing["network_ms"])
                found += len(people)
                entries = people.to_coco(image_id)
                results += entries
                hits, count = recall(dataset.annotations(image_id), entries, LARGE)
                matched, large = matched + hits, large + count
            m = evaluate(dataset, results)
            row = (
                f"| {data_name} | {config} | {m['AP']:.3f} | {m['AP50']:.3f} | {m['AR']:.3f} | "
                f"{matched / max(large, 1):.3f} ({matched}/{large}) | "
                f"{found / len(images):.2f} | {np.median(total_ms):.0f} | "
                f"{np.median(network_ms):.0f} | "
                f"{np.median(np.subtract(total_ms, network_ms)):.0f} |"
            )
            print(row, flush=True)
            lines.append(row)
    write_report("real_model_blazepose.md", [*lines, "", *speed])


def stage_times(estimator: BlazePosePipeline) -> list[str]:
    """Median ms of each stage on the photos of ../shared/data/photos: the detection passes
    (whole image, tiles, faces) per image, and crop + landmark network + decode per person
    (one ROI alone, and four in a batch)."""
    from multipose.io.media import read_image
    from multipose.pipelines.blazepose_regions import whole

    images = [read_image(p) for p in sorted((SHARED / "data" / "photos").glob("*.jpg"))]
    detect, single, batched = [], [], []
    for image in images:
        height, width = image.shape[:2]
        regions = [whole(image), *estimator_tiles(estimator, width, height)]
        rois = np.array([(width / 2, height / 2, min(width, height), 0.0)] * 4)

        def detection(image=image, regions=regions):
            return estimator._detect(image, regions), estimator._face_seeds(image)

        detect.append(median_ms(detection, 3))
        single.append(median_ms(lambda image=image, r=rois[:1]: estimator._landmarks(image, r), 3))
        batched.append(median_ms(lambda image=image, r=rois: estimator._landmarks(image, r), 3) / 4)
    return [
        "Detection passes (whole image, tiles of 0.45 of the longer side, faces), per image: "
        f"{np.median(detect):.0f} ms (median over {len(images)} photos, 2 threads).",
        f"Crop + landmark network + decode, per person: {np.median(single):.0f} ms alone, "
        f"{np.median(batched):.0f} ms in a batch of 4.",
    ]


def estimator_tiles(estimator: BlazePosePipeline, width: int, height: int) -> list:
    from multipose.pipelines.blazepose_regions import tiles

    return [t for f in estimator.settings.tile_fractions for t in tiles(width, height, f)]


if __name__ == "__main__":
    main()
