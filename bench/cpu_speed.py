"""Per-photo CPU time of the real models, PyTorch vs onnxruntime vs OpenVINO (bfloat16 on CPUs
with AMX), 1 and 2 threads, on the 10 photos of ../shared/data/photos, interleaved: each photo
goes through every (model, backend, threads) in turn, so that load from other work on the
machine slows them alike. With --burn, each photo then goes through the first model's rows
again (the default model's) beside a process burning one CPU in its own session
(--same-session: in ours too).

    python bench/cpu_speed.py [--burn]   # writes bench/results/cpu_speed.md
    python bench/cpu_speed.py --models mobilenet-thin+blazepose --backends onnxruntime \
        --burn --same-session --report cpu_speed_burn.md
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

import multipose
from multipose.io.files import cache_dir
from multipose.io.media import read_image
from multipose.specs import SPECS
from multipose.threads import available_cpus, use_threads

from common import burn_cpu, openvino_precision_name, write_report

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
WHERE = {"own": "its own session", "ours": "our session"}
MODELS = [multipose.DEFAULT_MODEL, "blazepose-full", "openpose-mobilenet-thin", "yolo11n-pose"]


def _timed(pipeline, image) -> tuple[float, float, int]:
    """ms for the photo, ms of it in the networks, people found."""
    start = time.perf_counter()
    people = pipeline(image)
    return 1000 * (time.perf_counter() - start), pipeline.timing["network_ms"], len(people)


def _autogroups() -> str:
    try:
        return (
            "yes"
            if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
            else "no"
        )
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burn", action="store_true")
    parser.add_argument("--same-session", action="store_true")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--backends", default="torch,onnxruntime,openvino")
    parser.add_argument("--report", default="cpu_speed.md")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    yolo = SPECS["yolo11n-pose"].weights_file
    models = [
        m for m in args.models.split(",") if m != "yolo11n-pose" or (cache_dir() / yolo).is_file()
    ]
    images = [(p.name, read_image(p)) for p in sorted(PHOTOS.iterdir())]
    runs = [(m, b, t) for m in models for b in args.backends.split(",") for t in threads]
    pipelines, load_s = {}, {}
    for run in runs:  # one pipeline per thread count: its onnxruntime sessions take that many
        model, backend, count = run
        use_threads(count)
        start = time.perf_counter()
        pipelines[run] = multipose.load(model, backend=backend, threads=count)
        load_s[run] = time.perf_counter() - start
        pipelines[run](images[0][1])  # warm-up: ONNX exports, numba compiles
    sessions = ["own"] + (["ours"] if args.same_session else []) if args.burn else []
    busy_runs = [(*run, where) for where in sessions for run in runs if run[0] == models[0]]
    times = {run: [] for run in runs}
    network = {run: [] for run in runs}
    busy = {run: [] for run in busy_runs}
    busy_network = {run: [] for run in busy}
    people = {run: 0 for run in runs}
    for _, image in images:
        for run in runs:
            use_threads(run[2])
            ms, network_ms, found = _timed(pipelines[run], image)
            times[run].append(ms)
            network[run].append(network_ms)
            people[run] += found
        for where in sessions:  # the same photo again, beside a process burning one CPU
            burner = multiprocessing.Process(target=burn_cpu, args=(where == "own",), daemon=True)
            burner.start()
            try:
                for run in busy_runs:
                    if run[3] == where:
                        use_threads(run[2])
                        ms, network_ms, _ = _timed(pipelines[run[:3]], image)
                        busy[run].append(ms)
                        busy_network[run].append(network_ms)
            finally:
                burner.kill()
                burner.join()
    lines = [
        "# CPU speed: PyTorch vs onnxruntime vs OpenVINO, 1 and 2 threads",
        "",
        f"`python bench/cpu_speed.py {' '.join(sys.argv[1:])}` on the {len(images)} "
        f"photos of ../shared/data/photos; {available_cpus()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end (a machine shared with other work: ratios in "
        "one run hold, absolute times drift). Each photo went through every row in turn; ms "
        "per photo (median, and the mean), of which in the networks (median), people found "
        "on all the photos; load s: `multipose.load` (the ONNX exports happen on the first "
        "call, not timed); x before: a burner row's median over the same row's without "
        "it. The burner runs in its own session (as another program would) or, with "
        "--same-session, also in ours, where the kernel's autogroups (on here: "
        f"{_autogroups()}) charge its CPU to our session's share. OpenVINO computes in "
        f"{openvino_precision_name()} on this CPU.",
        "",
        "| model | backend | threads | median ms | mean ms | network ms | people | load s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        model, backend, count = run
        lines.append(
            f"| {model} | {backend} | {count} | {np.median(times[run]):.0f} | "
            f"{np.mean(times[run]):.0f} | {np.median(network[run]):.0f} | {people[run]} | "
            f"{load_s[run]:.1f} |"
        )
    for run, values in busy.items():
        model, backend, count, where = run
        ratio = np.median(values) / np.median(times[run[:3]])
        lines.append(
            f"| {model}, beside a CPU burner in {WHERE[where]} | {backend} | {count} | "
            f"{np.median(values):.0f} | {np.mean(values):.0f} | "
            f"{np.median(busy_network[run]):.0f} | x before {ratio:.2f} | |"
        )
    print(write_report(args.report, lines).read_text())


if __name__ == "__main__":
    main()
