"""Per-photo CPU time of the real models, PyTorch vs onnxruntime, 1 and 2 threads, on the 10
photos of ../shared/data/photos, interleaved: each photo goes through every (model, backend,
threads) in turn, so that load from other work on the machine slows them alike. With
--burn, each photo then goes through the default model again (both backends, 2 threads)
beside a process burning one CPU.

    python bench/cpu_speed.py [--burn]   # writes bench/results/cpu_speed.md
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np

import multipose
from multipose.io.media import read_image
from multipose.specs import SPECS
from multipose.threads import available_cpus, use_threads
from multipose.weights.download import cache_dir

from common import write_report

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
MODELS = [multipose.DEFAULT_MODEL, "blazepose-full", "openpose-mobilenet-thin", "yolo11n-pose"]


def _burn() -> None:
    while True:
        pass


def _timed(pipeline, image) -> tuple[float, int]:
    start = time.perf_counter()
    people = pipeline(image)
    return 1000 * (time.perf_counter() - start), len(people)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burn", action="store_true")
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    yolo = SPECS["yolo11n-pose"].weights_file
    models = [m for m in MODELS if m != "yolo11n-pose" or (cache_dir() / yolo).is_file()]
    images = [(p.name, read_image(p)) for p in sorted(PHOTOS.iterdir())]
    pipelines, load_s = {}, {}
    for model in models:
        for backend in ("torch", "onnxruntime"):
            start = time.perf_counter()
            pipelines[model, backend] = multipose.load(model, backend=backend)
            load_s[model, backend] = time.perf_counter() - start
    runs = [(m, b, t) for (m, b) in pipelines for t in threads]
    for model, backend, count in runs:  # warm-up: ONNX exports, numba compiles
        use_threads(count)
        pipelines[model, backend](images[0][1])
    busy_runs = [(multipose.DEFAULT_MODEL, b, max(threads)) for b in ("torch", "onnxruntime")]
    times = {run: [] for run in runs}
    busy = {run: [] for run in busy_runs} if args.burn else {}
    people = {run: 0 for run in runs}
    for _, image in images:
        for run in runs:
            use_threads(run[2])
            ms, found = _timed(pipelines[run[:2]], image)
            times[run].append(ms)
            people[run] += found
        if args.burn:  # the same photo again, beside a process burning one CPU
            burner = multiprocessing.Process(target=_burn, daemon=True)
            burner.start()
            try:
                for run in busy_runs:
                    use_threads(run[2])
                    busy[run].append(_timed(pipelines[run[:2]], image)[0])
            finally:
                burner.kill()
                burner.join()
    lines = [
        "# CPU speed: PyTorch vs onnxruntime, 1 and 2 threads",
        "",
        f"`python bench/cpu_speed.py{' --burn' if args.burn else ''}` on the {len(images)} "
        f"photos of ../shared/data/photos; {available_cpus()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end (a machine shared with other work: ratios in "
        "one run hold, absolute times drift). Each photo went through every row in turn; ms "
        "per photo (median, and the mean), people found on all the photos; load s: "
        "`multipose.load` (the ONNX exports happen on the first call, not timed).",
        "",
        "| model | backend | threads | median ms | mean ms | people | load s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        model, backend, count = run
        lines.append(
            f"| {model} | {backend} | {count} | {np.median(times[run]):.0f} | "
            f"{np.mean(times[run]):.0f} | {people[run]} | {load_s[model, backend]:.1f} |"
        )
    for (model, backend, count), values in busy.items():
        lines.append(
            f"| {model}, beside a CPU burner | {backend} | {count} | "
            f"{np.median(values):.0f} | {np.mean(values):.0f} | | |"
        )
    print(write_report("cpu_speed.md", lines).read_text())


if __name__ == "__main__":
    main()
