"""A new process's start with the default model: `multipose.load` (imports included), its first
photo (the networks' ONNX exports are made there, or loaded from the export cache) and its
second, each run a new process. Rows: as it ships with the exports cached by an earlier process,
with an empty export cache (the first run after an install or a change to multipose), and with an
empty one and the exports traced at the photo's full size (as before TRACE_MODULO). Each run has
a cache folder of its own (the user's weights linked into it). Rounds interleave the rows.

    python bench/first_call.py [--rounds 3]   # writes bench/results/first_call.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from multipose.io.files import cache_dir

from common import default_threads_env, load_average, write_report

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos" / "zidane.jpg"
WORKER = """
import json, sys, time
start = time.perf_counter()
import multipose
import multipose.pipelines.network as network
from multipose.io.media import read_image
if sys.argv[2] == "full":
    network.TRACE_MODULO = 10**9
pipeline = multipose.load(multipose.DEFAULT_MODEL)
loaded = time.perf_counter()
photo = read_image(sys.argv[1])
calls = []
for _ in range(2):
    before = time.perf_counter()
    pipeline(photo)
    calls.append(time.perf_counter() - before)
print(json.dumps({"load": loaded - start, "first": calls[0], "second": calls[1]}))
"""
# row: (worker mode, exports cached by an earlier process)
ROWS = {
    "as it ships, exports cached": ("ships", True),
    "as it ships, an empty export cache": ("ships", False),
    "an empty export cache, exports traced at full size": ("full", False),
}
TIMES = ("load", "first", "second")


def cache_folder(root: Path) -> Path:
    """A new cache folder holding links to the user cache's weights, and no exports."""
    folder = Path(tempfile.mkdtemp(dir=root))
    for entry in cache_dir().iterdir():
        if entry.name != "onnx":
            (folder / entry.name).symlink_to(entry)
    return folder


def run(mode: str, cache: Path) -> dict:
    """One new process's times (seconds) with `cache` as its cache folder."""
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(PHOTO), mode],
        capture_output=True,
        text=True,
        check=True,
        env={**default_threads_env(), "MULTIPOSE_CACHE": str(cache)},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {row: [] for row in ROWS}
    with tempfile.TemporaryDirectory() as root:
        warm = cache_folder(Path(root))
        run("ships", warm)  # makes the exports of the cached row
        for _ in range(args.rounds):
            for row, (mode, cached) in ROWS.items():
                runs[row].append(run(mode, warm if cached else cache_folder(Path(root))))
    lines = [
        "# A new process's start with the default model",
        "",
        f"`python bench/first_call.py --rounds {args.rounds}`: each run a new process: "
        "`multipose.load` of the default (imports included), then two calls on "
        f"{PHOTO.name} ({os.cpu_count()} CPUs, default threads), with a cache folder of its "
        "own: the exports an earlier process made, or none. Median seconds over the "
        "rounds, interleaved. " + load_average(),
        "",
        "| row | load s | first photo s | second photo s | first - second s |",
        "|---|---:|---:|---:|---:|",
    ]
    for row, results in runs.items():
        load, first, second = (float(np.median([r[k] for r in results])) for k in TIMES)
        extra = float(np.median([r["first"] - r["second"] for r in results]))
        line = f"| {row} | {load:.2f} | {first:.2f} | {second:.2f} | {extra:.2f} |"
        print(line, flush=True)
        lines.append(line)
    write_report("first_call.md", lines)


if __name__ == "__main__":
    main()
