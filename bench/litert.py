"""Per network call: our TFLite executor in PyTorch, the same through our onnxruntime and
OpenVINO backends (OpenVINO computes in bfloat16 on CPUs with AMX), and LiteRT (XNNPACK) on
BlazePose's three TFLite files, on the crops our BlazePose pipeline makes of a real photo,
batch 1, at each thread count; and the thin OpenPose GraphDef network (no TFLite file: PyTorch
vs onnxruntime and OpenVINO) on the photo resized as its pipeline resizes it. The calls are
interleaved: each repeat calls every row once, so that load from other work on the machine
slows them alike. Outputs are compared with LiteRT's (with PyTorch's for the GraphDef).

    python bench/litert.py [--repeats 60] [--threads 1,2]   # writes bench/results/litert.md
"""

from __future__ import annotations

import os

# PyTorch's OpenMP threads wait passively, as in multipose (whose __init__ sets this, but torch
# is imported first here and libgomp reads it as it loads): spinning ones, left by the PyTorch
# rows, slowed the next rows' onnxruntime calls 1.3-1.9x on 2 CPUs (bench/results/litert.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import multipose
from multipose.io.files import cache_dir
from multipose.io.media import read_image
from multipose.models.blazepose import BlazePoseNetworks
from multipose.pipelines.network import Network
from multipose.preprocess import resized_input
from multipose.threads import available_cpus, use_threads

from common import burn_cpu, openvino_precision_name, write_report

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos" / "zidane.jpg"
THIN_HEIGHTS = (368, 456)
SLEEPING = "onnxruntime, threads always sleeping"
OPENVINO_PRECISION = openvino_precision_name()
OPENVINO = f"OpenVINO ({OPENVINO_PRECISION} here)"
Call = Callable[[], list[np.ndarray]]


def blazepose_crops(image: np.ndarray) -> dict[str, np.ndarray]:
    """The first crop (1, h, w, 3) float32 that the BlazePose pipeline gives each network."""
    pipeline = multipose.load("blazepose-full")
    crops: dict[str, np.ndarray] = {}
    run = pipeline._run

    def record(name: str, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        crops.setdefault(name, batch[:1].copy())
        return run(name, batch)

    pipeline._run = record
    pipeline(image)
    return crops


def torch_call(module: torch.nn.Module, x: torch.Tensor) -> Call:
    def call() -> list[np.ndarray]:
        with torch.inference_mode():
            return [o.numpy() for o in module(x)]

    return call


def onnx_call(
    module: torch.nn.Module,
    x: torch.Tensor,
    threads: int,
    dynamic: bool,
    sleeping: bool = False,
    backend: str = "onnxruntime",
) -> Call:
    """Our onnxruntime (or OpenVINO) backend, on the threads the CpuWatch finds spare
    (onnxruntime's spinning while all are), or with `sleeping` onnxruntime's session on all
    `threads` whose threads always sleep between ops (its only mode before the watch)."""
    use_threads(threads)  # the session takes this thread count at most
    network = Network(module, backend=backend, dynamic_size=dynamic)
    network(x)  # exported here
    if not sleeping:
        return lambda: network(x)
    session = network._runner(x).session(threads, False)
    inputs = {"input": x.numpy()}
    return lambda: session.run(None, inputs)


def litert_call(path: Path, crop: np.ndarray, threads: int) -> Call:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], crop)
    outputs = [o["index"] for o in interpreter.get_output_details()]

    def call() -> list[np.ndarray]:
        interpreter.invoke()
        return [interpreter.get_tensor(i) for i in outputs]

    return call


def median_times(rows: dict[tuple[str, str, int], Call], repeats: int) -> dict:
    """Each row's median ms over `repeats` rounds, each round calling every row once."""
    times: dict[tuple[str, str, int], list[float]] = {row: [] for row in rows}
    for _ in range(repeats):
        for row, call in rows.items():
            use_threads(row[2])
            start = time.perf_counter()
            call()
            times[row].append(1000 * (time.perf_counter() - start))
    return {row: float(np.median(values)) for row, values in times.items()}


def nchw(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """LiteRT's NHWC outputs in our NCHW layout."""
    return [a.transpose(0, 3, 1, 2) if a.ndim == 4 else a for a in arrays]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--burn", action="store_true")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    image = read_image(PHOTO)
    folder = cache_dir() / "mediapipe-0.10.21"
    networks = multipose.load("blazepose-full").networks
    rows: dict[tuple[str, str, int], Call] = {}
    for name, crop in blazepose_crops(image).items():
        file = BlazePoseNetworks.FILES[name]
        module = networks[name].module
        x = torch.from_numpy(crop).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
        for count in threads:
            rows[file, "PyTorch", count] = torch_call(module, x)
            rows[file, "onnxruntime", count] = onnx_call(module, x, count, dynamic=False)
            rows[file, OPENVINO, count] = onnx_call(module, x, count, False, backend="openvino")
            if count > 1:
                rows[file, SLEEPING, count] = onnx_call(module, x, count, False, sleeping=True)
            rows[file, "LiteRT", count] = litert_call(folder / file, crop, count)
    thin = multipose.load("openpose-mobilenet-thin")
    for height in THIN_HEIGHTS:
        x = resized_input(image, height / image.shape[0], thin.spec.input)
        label = f"openpose-mobilenet-thin GraphDef, height {height} ({x.shape[3]}x{x.shape[2]})"
        for count in threads:
            rows[label, "PyTorch", count] = torch_call(thin.network.module, x)
            rows[label, "onnxruntime", count] = onnx_call(thin.network.module, x, count, True)
            rows[label, OPENVINO, count] = onnx_call(
                thin.network.module, x, count, True, backend="openvino"
            )
            if count > 1:
                rows[label, SLEEPING, count] = onnx_call(
                    thin.network.module, x, count, True, sleeping=True
                )
    results = {}
    for row, call in rows.items():  # warm-up, and the outputs compared
        use_threads(row[2])
        results[row] = call()
    times = median_times(rows, args.repeats)
    busy = {}
    if args.burn:  # the rows of more than one thread, again beside a process burning a CPU
        burner = multiprocessing.Process(target=burn_cpu, daemon=True)
        burner.start()
        try:
            busy = median_times({r: c for r, c in rows.items() if r[2] > 1}, args.repeats)
        finally:
            burner.kill()
            burner.join()
    lines = [
        "# Network calls: PyTorch, onnxruntime and OpenVINO vs LiteRT",
        "",
        f"`python bench/litert.py --repeats {args.repeats}{' --burn' if args.burn else ''}`: "
        "one call (batch 1) of each "
        f"network on {PHOTO.name} as our pipelines prepare it (BlazePose: the first crop the "
        "blazepose-full pipeline gives each network; the thin OpenPose: the photo resized to "
        f"the height shown and padded), {args.repeats} repeats interleaved over all rows; "
        f"{available_cpus()} CPUs, load average {os.getloadavg()[0]:.1f} at the end (a machine "
        "shared with other work: ratios in one run hold, absolute times drift). LiteRT: "
        "ai-edge-litert's interpreter (XNNPACK) at the same thread count. x LiteRT: median "
        "over LiteRT's median (the thin OpenPose: over PyTorch's); max diff: the largest "
        "absolute difference from LiteRT's (PyTorch's) outputs, over the output's largest "
        "absolute value, the worst output. onnxruntime: our backend, on the threads that other "
        "programs leave idle (multipose.threads.CpuWatch, measured again every 0.5 s), its "
        "threads spinning between ops during a run while all of them are; the 'always "
        "sleeping' rows: its sessions on all the threads, which sleep between ops (before "
        "the watch). OpenVINO: our backend, in its precision for this CPU (bfloat16 where it "
        f"has AMX; {OPENVINO_PRECISION} here), on the threads the watch finds spare."
        + (
            " Beside a burner: the rows of more than one thread again, all rounds beside a "
            "process burning one CPU; x before: over the row's own median without it."
            if args.burn
            else ""
        ),
        "",
        "| network | runtime | threads | median ms | x LiteRT | max diff |"
        + (" beside a burner ms | x LiteRT | x before |" if args.burn else ""),
        "|---|---|---:|---:|---:|---:|" + ("---:|---:|---:|" if args.burn else ""),
    ]
    for row in rows:
        network, runtime, count = row
        anchor = (network, "LiteRT", count)
        if anchor not in rows:
            anchor = (network, "PyTorch", count)
        if anchor == row:
            ratio = diff = ""
        else:
            ours = results[row]
            theirs = results[anchor] if anchor[1] == "PyTorch" else nchw(results[anchor])
            worst = max(
                float(np.abs(a - b).max() / np.abs(b).max())
                for a, b in zip(ours, theirs, strict=True)
            )
            ratio = f"{times[row] / times[anchor]:.2f}"
            diff = f"{worst:.1e}"
        line = f"| {network} | {runtime} | {count} | {times[row]:.2f} | {ratio} | {diff} |"
        if row in busy:
            busy_ratio = f"{busy[row] / busy[anchor]:.2f}" if anchor != row else ""
            line += f" {busy[row]:.2f} | {busy_ratio} | {busy[row] / times[row]:.2f} |"
        elif busy:
            line += " | | |"
        lines.append(line)
    print(write_report("litert.md", lines).read_text())


if __name__ == "__main__":
    main()
