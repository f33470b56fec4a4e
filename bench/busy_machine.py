"""What a user gets on a busy machine: the default model with its default threads, in a new
process (as `multipose estimate` starts), on a quiet machine, beside a program burning one CPU
from before it started, and beside one that starts after the model was loaded and warmed (seen
only by the networks' CpuWatch). Rounds interleave the three, so that other load slows them
alike; each run loads the model, warms it on one photo and times each of the 10 photos once.

    python bench/busy_machine.py [--rounds 3]   # writes bench/results/busy_machine.md
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import burn_cpu, default_threads_env, write_report

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
WORKER = """
import json, subprocess, sys, time
from pathlib import Path
import numpy as np
import multipose, torch
from multipose.io.media import read_image
from multipose.threads import cpu_watch
pipeline = multipose.load(multipose.DEFAULT_MODEL)
photos = [read_image(p) for p in sorted(Path(sys.argv[1]).glob("*.jpg"))]
pipeline(photos[0])
burner = None
if sys.argv[2] == "after":  # another program, in its own session (see common.burn_cpu)
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    time.sleep(0.5)
times, people, spare = [], 0, []
for photo in photos:
    start = time.perf_counter()
    people += len(pipeline(photo))
    times.append(time.perf_counter() - start)
    spare.append(cpu_watch().spare)
print(json.dumps({"threads": torch.get_num_threads(), "ms": 1000 * float(np.mean(times)),
                  "people": people, "spare": min(spare)}))
if burner is not None:
    burner.kill()
"""
CONDITIONS = {
    "quiet": "",
    "beside a CPU burner started before": "before",
    "beside a CPU burner started after the model was loaded": "after",
}


def run(burn: str) -> dict:
    """One worker process's result, beside a burner (in its own session) started `burn`
    ("before" it, "after" its warm-up, or "" for none)."""
    burner = None
    if burn == "before":
        burner = multiprocessing.Process(target=burn_cpu, daemon=True)
        burner.start()
        time.sleep(0.5)
    try:
        out = subprocess.run(
            [sys.executable, "-c", WORKER, str(PHOTOS), burn],
            capture_output=True,
            text=True,
            check=True,
            env=default_threads_env(),
        ).stdout
    finally:
        if burner is not None:
            burner.kill()
            burner.join()
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {name: [] for name in CONDITIONS}
    for _ in range(args.rounds):
        for name, burn in CONDITIONS.items():
            results[name].append(run(burn))
            print(name, results[name][-1], flush=True)
    quiet = float(np.median([r["ms"] for r in results["quiet"]]))
    lines = [
        "# The default model on a busy machine, with its default threads",
        "",
        f"`python bench/busy_machine.py --rounds {args.rounds}`; {os.cpu_count()} CPUs; the "
        "default model (onnxruntime), each run a new process loading it with no `threads` and "
        "no OMP_NUM_THREADS (so `multipose.threads.default_threads()` picks the budget at the "
        "start, and the networks' CpuWatch the threads of each call); per run the mean over "
        "the 10 photos of ../shared/data/photos after one warm-up; the burner is a process "
        "spinning in its own session. Threads: the budget chosen at the start / the fewest "
        "spare CPUs the watch reported over the photos, per round. Rows: median over the "
        "rounds; x quiet: against the quiet row.",
        "",
        "| run | threads | ms per photo | x quiet | people |",
        "|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        ms = float(np.median([r["ms"] for r in runs]))
        chosen = ", ".join(f"{r['threads']}/{r['spare']}" for r in runs)
        lines.append(f"| {name} | {chosen} | {ms:.0f} | {ms / quiet:.2f}x | {runs[0]['people']} |")
    print("\n".join(lines[-4:]))
    print("->", write_report("busy_machine.md", lines))


if __name__ == "__main__":
    main()
