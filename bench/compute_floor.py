"""How far the default model's time per photo can fall on this CPU in float32: the multiply-adds
(MACs) of every network call it makes per image, against the CPU's own float32 rate (a
2048 x 2048 matrix product in PyTorch, at the same thread count), beside the time it takes.
YOLO11n-pose (AGPL-3.0, opt-in) and the default in OpenVINO (bfloat16 on CPUs with AMX: against
the bfloat16 product's rate) for comparison. Each image goes through every row in turn.

    python bench/compute_floor.py [--repeats 3]   # writes bench/results/compute_floor.md
"""

from __future__ import annotations

import os

# PyTorch's OpenMP threads wait passively, as in multipose (whose __init__ sets this, but torch
# is imported first here and libgomp reads it as it loads): spinning ones, left by PyTorch's
# small ops, would slow the onnxruntime calls after them.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import multipose
from multipose.io.coco import CocoDataset
from multipose.io.media import read_image
from multipose.pipelines.network import Network
from multipose.threads import use_threads

from common import load_average, openvino_precision_name, write_report

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
OPENVINO_PRECISION = openvino_precision_name()  # what its row computes in here
OPENVINO_DTYPE = getattr(torch, OPENVINO_PRECISION)
ROWS = [  # label, model, backend
    (f"default ({multipose.DEFAULT_MODEL}), auto: as it ships", multipose.DEFAULT_MODEL, "auto"),
    (f"default, OpenVINO ({OPENVINO_PRECISION} here)", multipose.DEFAULT_MODEL, "openvino"),
    ("yolo11n-pose (AGPL-3.0), auto", "yolo11n-pose", "auto"),
]
THREADS = (1, 2)
PRODUCT = 2048


class CallCounter:
    """Counts the MACs of every network call made while it is on (Network.__call__ patched),
    in all (`macs`) and per network module (`per_module`: calls, MACs, seconds in the call);
    each module and input shape's MACs counted once, by PyTorch's FLOP counter."""

    def __init__(self) -> None:
        self.macs = 0.0
        self.per_module: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(3))
        self._known: dict[tuple[int, tuple[int, ...]], float] = {}
        self._call = Network.__call__

    def __enter__(self) -> CallCounter:
        counter = self

        def counted(network: Network, batch: torch.Tensor) -> list[np.ndarray]:
            macs = counter.count(network.module, tuple(batch.shape))
            start = time.perf_counter()
            outputs = counter._call(network, batch)
            counter.macs += macs
            counter.per_module[id(network.module)] += (1, macs, time.perf_counter() - start)
            return outputs

        Network.__call__ = counted
        return self

    def __exit__(self, *_: object) -> None:
        Network.__call__ = self._call

    def count(self, module: torch.nn.Module, shape: tuple[int, ...]) -> float:
        key = id(module), shape
        if key not in self._known:
            flops = FlopCounterMode(display=False)
            with flops, torch.inference_mode():
                module(torch.zeros(shape))
            self._known[key] = flops.get_total_flops() / 2
        return self._known[key]


def product_rate(threads: int, dtype: torch.dtype, repeats: int = 10) -> float:
    """GMAC/s of a PRODUCT x PRODUCT matrix product in `dtype` on `threads` threads (median)."""
    use_threads(threads)
    a, b = (torch.randn(PRODUCT, PRODUCT).to(dtype) for _ in range(2))
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return PRODUCT**3 / float(np.median(times)) / 1e9


def images(data: str) -> dict[str, np.ndarray]:
    if data == "photos":
        return {p.name: read_image(p) for p in sorted((SHARED / "photos").glob("*.jpg"))}
    dataset = CocoDataset(SHARED / data / "annotations.json")
    return {str(i): dataset.read_image(i) for i in dataset.image_ids}


def network_names(model: object) -> dict[int, str]:
    """The default's network modules by id: the thin OpenPose and BlazePose's three."""
    names = {id(model.bottom_up.network.module): "thin OpenPose (both heights)"}
    for name, network in model.blazepose.networks.items():
        names[id(network.module)] = f"BlazePose {name}"
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    models = {}
    for threads in THREADS:
        use_threads(threads)
        for label, name, backend in ROWS:
            models[label, threads] = multipose.load(name, backend=backend, threads=threads)
    rates = {
        (threads, dtype): product_rate(threads, dtype)
        for threads in THREADS
        for dtype in {torch.float32, OPENVINO_DTYPE}
    }
    lines = [
        "# The default's multiply-adds per image against this CPU's rate",
        "",
        f"`python bench/compute_floor.py --repeats {args.repeats}`: per image, the "
        "multiply-adds (GMAC) of all the network calls a model makes on it (PyTorch's FLOP "
        "counter on each network at each input shape it is called with, / 2), and the median "
        f"ms per image over {args.repeats} rounds (every image through every row in turn). "
        f"Rate: a {PRODUCT} x {PRODUCT} matrix product in PyTorch at the row's threads, in "
        f"float32 (in {OPENVINO_PRECISION} for the OpenVINO row: OpenVINO's choice "
        "here); floor: the median image's GMAC at that rate, the least time its networks "
        "could take; "
        "achieved: all the images' GMAC over all their time (networks and the rest), over the "
        "rate.",
        "",
        "| data | model, backend | threads | GMAC/image | rate GMAC/s | floor ms | median ms | "
        "achieved |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    breakdown = [
        "",
        "Where the default's time goes on the photos (as it ships, all rounds): per network, its "
        "calls, GMAC and mean ms per image, and the share of the float32 rate its calls achieve.",
        "",
        "| network | threads | calls/image | GMAC/image | mean ms/image | achieved |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for data in ("photos", "coco-mini-val2017"):
        pictures = images(data)
        macs: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
        times: dict[tuple[str, int], list[float]] = defaultdict(list)
        with CallCounter() as counter:
            for key, model in models.items():  # warm-up (exports), and each image's MACs
                use_threads(key[1])
                for name, image in pictures.items():
                    counter.macs = 0.0
                    model(image)
                    macs[key][name] = counter.macs
            counter.per_module.clear()
            for _ in range(args.repeats):
                for image in pictures.values():
                    for key, model in models.items():
                        use_threads(key[1])
                        start = time.perf_counter()
                        model(image)
                        times[key].append(1000 * (time.perf_counter() - start))
        for (label, threads), model_times in times.items():
            dtype = OPENVINO_DTYPE if "OpenVINO" in label else torch.float32
            rate = rates[threads, dtype]
            gmac = float(np.median(list(macs[label, threads].values()))) / 1e9
            median = float(np.median(model_times))
            all_gmac = sum(macs[label, threads].values()) / 1e9 * args.repeats
            achieved = all_gmac / (sum(model_times) / 1000) / rate
            row = (
                f"| {data} | {label} | {threads} | {gmac:.2f} | {rate:.0f} | "
                f"{1000 * gmac / rate:.0f} | {median:.0f} | {achieved:.2f} |"
            )
            print(row, flush=True)
            lines.append(row)
            if data != "photos" or label != ROWS[0][0]:
                continue
            count = len(pictures) * args.repeats
            network_ms = 0.0
            for module, name in network_names(models[label, threads]).items():
                calls, module_macs, seconds = counter.per_module[module] / count
                network_ms += 1000 * seconds
                breakdown.append(
                    f"| {name} | {threads} | {calls:.1f} | {module_macs / 1e9:.2f} | "
                    f"{1000 * seconds:.0f} | {module_macs / seconds / 1e9 / rate:.2f} |"
                )
            mean = float(np.mean(model_times))
            outside = mean - network_ms
            breakdown.append(f"| outside the networks | {threads} | | | {outside:.0f} | |")
    lines[2] += " " + load_average()
    write_report("compute_floor.md", lines + breakdown)


if __name__ == "__main__":
    main()
