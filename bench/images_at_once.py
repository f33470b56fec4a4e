"""An estimate job with the default model as `multipose estimate DIR --render` runs it, each run
a new process: images one at a time on the whole thread budget, against as many at once as the
budget has threads (each on one; the job's default). On the 10 photos and coco-mini-val2017
(with AP); rounds interleave the rows, so that other work on the machine slows them alike.

    python bench/images_at_once.py [--rounds 3]   # writes bench/results/images_at_once.md
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset

from common import default_threads_env, load_average, write_report

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATA = {"photos": SHARED / "photos", "coco-mini-val2017": SHARED / "coco-mini-val2017"}
WORKER = """
import json, sys
from pathlib import Path
import multipose
from multipose.io.coco import CocoDataset
from multipose.runner import Job, ModelChoice, Options, Outputs
from multipose.threads import default_threads
folder, out, at_once = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
annotations = folder / "annotations.json"
if annotations.is_file():  # COCO's names give the results COCO's ids, for AP
    dataset = CocoDataset(annotations)
    paths = [dataset.images[i].path for i in dataset.image_ids]
else:
    paths = sorted(folder.glob("*.jpg"))
job = Job(ModelChoice(multipose.DEFAULT_MODEL), Outputs(out, render=True), paths,
          options=Options(at_once=at_once))
summary = job.run()
print(json.dumps({"seconds": summary.seconds, "load": summary.load_seconds,
                  "images": summary.images, "people": summary.people,
                  "at_once": job.images_at_once(len(paths)), "budget": default_threads()}))
"""
ROWS = {"one image at a time": 1, "as many at once as threads (the default)": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lines = [
        "# Images one at a time against several at once",
        "",
        f"`python bench/images_at_once.py --rounds {args.rounds}`: each run a new process "
        "running the estimate job on the folder with the default model, default threads, "
        "OpenPose JSON, COCO results and overlays written (as `multipose estimate DIR --out "
        "OUT --render`); s: the job's seconds after loading the model (its first image loads "
        "the networks' exports from the export cache, which the first round fills), median "
        "over the rounds; images/s from it. AP from the COCO "
        f"results of the last round. {os.cpu_count()} CPUs.",
        "",
        "| data | row | at once x threads | s (median) | images/s | x one at a time | people "
        "| AP |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for data, folder in DATA.items():
        runs: dict[str, list[dict]] = {row: [] for row in ROWS}
        results: dict[str, list] = {}
        for _ in range(args.rounds):
            for row, at_once in ROWS.items():
                with tempfile.TemporaryDirectory() as out:
                    done = subprocess.run(
                        [sys.executable, "-c", WORKER, str(folder), out, json.dumps(at_once)],
                        capture_output=True,
                        text=True,
                        check=True,
                        env=default_threads_env(),
                    )
                    runs[row].append(json.loads(done.stdout.strip().splitlines()[-1]))
                    results[row] = json.loads((Path(out) / "coco_results.json").read_text())
        anchor = None
        for row, measured in runs.items():
            seconds = float(np.median([r["seconds"] - r["load"] for r in measured]))
            anchor = anchor or seconds
            last = measured[-1]
            ap = ""
            if (folder / "annotations.json").is_file():
                dataset = CocoDataset(folder / "annotations.json")
                with contextlib.redirect_stdout(io.StringIO()):
                    ap = f"{evaluate(dataset, results[row])['AP']:.3f}"
            line = (
                f"| {data} | {row} | {last['at_once']} x {last['budget'] // last['at_once']} | "
                f"{seconds:.1f} | {last['images'] / seconds:.2f} | {seconds / anchor:.2f} | "
                f"{last['people']} | {ap} |"
            )
            print(line, flush=True)
            lines.append(line)
    lines[2] += " " + load_average()
    write_report("images_at_once.md", lines)


if __name__ == "__main__":
    main()
