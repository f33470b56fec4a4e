"""The default model's time per image against the old default's (BlazePose as it shipped: in
PyTorch), side by side in one run, at 1 and 2 threads: each image goes through every row in
turn, so that other work on the machine slows them alike. Rows: both models in PyTorch and
with the default backend ("auto": onnxruntime on the CPU). On coco-mini-val2017 (with AP) and
the 10 photos.

    python bench/default_speed.py   # writes bench/results/default_speed.md
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import multipose
from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset
from multipose.io.media import read_image
from multipose.threads import use_threads

from common import load_average, write_report

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
OLD_DEFAULT = "blazepose-full"
ROWS = [  # label, model, backend
    ("old default (BlazePose), PyTorch: as it shipped", OLD_DEFAULT, "torch"),
    ("old default (BlazePose), auto", OLD_DEFAULT, "auto"),
    (f"default ({multipose.DEFAULT_MODEL}), PyTorch", multipose.DEFAULT_MODEL, "torch"),
    (f"default ({multipose.DEFAULT_MODEL}), auto: as it ships", multipose.DEFAULT_MODEL, "auto"),
]
THREADS = (1, 2)


def _images() -> dict[str, tuple[CocoDataset | None, dict[int | str, np.ndarray]]]:
    val = CocoDataset(SHARED / "coco-mini-val2017" / "annotations.json")
    photos = {p.name: read_image(p) for p in sorted((SHARED / "photos").glob("*.jpg"))}
    return {
        "coco-mini-val2017": (val, {i: val.read_image(i) for i in val.image_ids}),
        "photos": (None, photos),
    }


def main() -> None:
    models = {}
    for threads in THREADS:
        for label, name, backend in ROWS:
            models[label, threads] = multipose.load(name, backend=backend, threads=threads)
    lines = [
        "# The default model's time against the old default's",
        "",
        "`python bench/default_speed.py`: every image through each row in turn (threads set "
        "before each call; onnxruntime sessions made with that many threads); median (mean) ms "
        "per image; ratio: to the old default as it shipped at the same threads.",
        "",
        "| data | model, backend | threads | AP | people/image | median ms | mean ms | ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for data, (dataset, images) in _images().items():
        times = {key: [] for key in models}
        results = {key: [] for key in models}
        found = dict.fromkeys(models, 0)
        first = next(iter(images.values()))
        for (_, threads), model in models.items():  # warm-up: exports, compilation
            use_threads(threads)
            model(first)
        for image_id, image in images.items():
            for key, model in models.items():
                use_threads(key[1])
                start = time.perf_counter()
                people = model(image)
                times[key].append(1000 * (time.perf_counter() - start))
                found[key] += len(people)
                if dataset is not None:
                    results[key] += people.to_coco(image_id)
        for key in models:
            label, threads = key
            ap = f"{evaluate(dataset, results[key])['AP']:.3f}" if dataset is not None else ""
            anchor = np.median(times[ROWS[0][0], threads])
            row = (
                f"| {data} | {label} | {threads} | {ap} | {found[key] / len(images):.2f} | "
                f"{np.median(times[key]):.0f} | {np.mean(times[key]):.0f} | "
                f"{np.median(times[key]) / anchor:.2f} |"
            )
            print(row, flush=True)
            lines.append(row)
    lines[2] += " " + load_average()
    write_report("default_speed.md", lines)


if __name__ == "__main__":
    main()
