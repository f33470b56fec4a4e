"""Video on synthetic-motion clips with ground truth (`multipose.data.motion`): per-photo mode
(every frame a new photo) against video mode (people followed, the whole model every K frames),
both tracked, each also smoothed (One-Euro both ways, as `--smooth` does on a file): COCO AP
over the clip's frames, recall of the true people, frames with all found, identity switches,
fragmented tracks, keypoint jitter (|acceleration found - true|, px/frame^2) and seconds per
frame. Each frame goes through both
modes in turn (1 thread), so a busy machine slows them alike.

Clips: `ski pan` slides ../shared/data/photos/ski.jpg across a frame 1.2 times its size (all
five people in view in every frame), its truth the five people the default model finds in the
still photo (checked: five, each with >= 12 COCO keypoints); the others move over annotated
coco-mini-val2017 photos, their truth the COCO annotations moved alike. The tracker's and the
smoother's settings were tuned on other clips, made alike from coco-mini-train2017 photos
(`--tuning`, written to bench/results/video_tuning.md), not on these.

    python bench/video.py [--frames 30] [--model mobilenet-thin+blazepose] [--tuning]
    # writes bench/results/video.md (video_tuning.md with --tuning)
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

import multipose
from multipose.data.motion import Motion, motion_clip
from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset
from multipose.io.media import read_image
from multipose.pipelines.video_mode import VideoMode
from multipose.poses import Poses
from multipose.skeleton import COCO17
from multipose.smoothing import OneEuro, TwoWayOneEuro
from multipose.tracking import Tracker
from multipose.video_metrics import Frame, score_video

from common import write_report

SHARED = Path(__file__).resolve().parents[2] / "shared"
COCO = SHARED / "data" / "coco-mini-val2017"
TRAIN = SHARED / "data" / "coco-mini-train2017"
FPS = 30.0
EVERY = 10
CLIPS = {
    "ski pan": ("ski", Motion(view=1.2, pan=(0.15, 0.0))),
    "street pan+zoom+turn": (350679, Motion(pan=(0.15, 0.05), zoom=1.2, rotation=5.0)),
    "pair pan": (192699, Motion(pan=(0.15, 0.0))),
    "pair pan + bar": (192699, Motion(pan=(0.15, 0.0), bars=1, bar_width=0.12)),
}
TUNING = {  # coco-mini-train2017 photos
    "crowd pan+zoom+turn": (370162, Motion(pan=(0.15, 0.05), zoom=1.2, rotation=5.0)),
    "group pan+zoom+turn": (227000, Motion(pan=(-0.15, 0.05), zoom=1.2, rotation=-5.0)),
    "nine pan+zoom out": (129648, Motion(pan=(0.1, -0.05), zoom=0.85)),
    "four pan": (256353, Motion(pan=(0.15, 0.0))),
    "four pan + bar": (790, Motion(pan=(0.15, 0.0), bars=1, bar_width=0.12)),
    "two pan + bar": (442450, Motion(pan=(-0.15, 0.0), bars=1, bar_width=0.12)),
}


def truth_of(
    source: str | int, model: multipose.Pipeline, coco: Path = COCO
) -> tuple[np.ndarray, Poses, np.ndarray]:
    """The photo, its true people (COCO-17, boxes set) and their areas; `source` is "ski" or
    the id of a photo of the COCO folder `coco`."""
    if source == "ski":
        photo = read_image(SHARED / "data" / "photos" / "ski.jpg")
        people = model(photo).convert(COCO17)
        assert len(people) == 5 and (people.visible_counts() >= 12).all(), "ski: not five"
        boxes = people.keypoint_boxes()
        areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) * 0.53
        return photo, Poses(people.keypoints, None, COCO17, boxes), areas
    dataset = CocoDataset(coco / "annotations.json")
    photo = dataset.read_image(source)
    anns = [a for a in dataset.annotations(source) if not a["iscrowd"] and a["num_keypoints"]]
    keypoints = np.array([a["keypoints"] for a in anns], np.float32).reshape(len(anns), 17, 3)
    keypoints[..., 2] = keypoints[..., 2] > 0
    boxes = np.array([a["bbox"] for a in anns], np.float32)
    boxes[:, 2:] += boxes[:, :2]
    return photo, Poses(keypoints, None, COCO17, boxes), np.array([a["area"] for a in anns])


def coco_truth(frames: list[Poses], areas: list[np.ndarray], size: tuple[int, int]) -> CocoDataset:
    """The clip's truth as a COCO dataset, image id = frame number."""
    images, annotations = [], []
    for frame, (people, area) in enumerate(zip(frames, areas, strict=True)):
        images.append(
            {"id": frame, "file_name": f"{frame}.jpg", "width": size[0], "height": size[1]}
        )
        for person in range(len(people)):
            keypoints = people.keypoints[person].copy()
            keypoints[:, 2] = 2 * (keypoints[:, 2] > 0)
            x0, y0, x1, y1 = people.boxes[person].tolist()
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": frame,
                    "category_id": 1,
                    "keypoints": keypoints.ravel().tolist(),
                    "num_keypoints": int((keypoints[:, 2] > 0).sum()),
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": float(area[person]),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": 1, "name": "person", "keypoints": list(COCO17.keypoints)}]
    data = {"images": images, "annotations": annotations, "categories": categories}
    return CocoDataset(Path("clip.json"), Path("."), data)


def run_clip(
    model, source, motion: Motion, smoothing: OneEuro, coco: Path, every: int = EVERY
) -> dict[str, dict]:
    photo, people, areas = truth_of(source, model, coco)
    modes = {"per-photo": model, "video": VideoMode(model, every)}
    trackers = {name: Tracker() for name in modes}
    smoothers = {name: TwoWayOneEuro(smoothing.min_cutoff, smoothing.beta) for name in modes}
    found: dict[str, list[Poses]] = {m: [] for m in (*modes, *(f"{n} smoothed" for n in modes))}
    seconds = dict.fromkeys(modes, 0.0)
    truths, frame_areas, size = [], [], None
    for frame, (image, truth, transform) in enumerate(motion_clip(photo, people, motion)):
        size = image.shape[1::-1]
        truths.append(truth)
        frame_areas.append(areas * abs(np.linalg.det(transform[:, :2])))
        for name, estimate in modes.items():
            start = time.perf_counter()
            tracked = trackers[name].update(estimate(image))
            seconds[name] += time.perf_counter() - start
            found[name].append(tracked)
            done = smoothers[name].push(frame, tracked, frame / FPS)
            found[f"{name} smoothed"] += [people for _, people in done]
    for name in modes:
        found[f"{name} smoothed"] += [people for _, people in smoothers[name].flush()]
    gt = coco_truth(truths, frame_areas, size)
    rows = {}
    for name, poses in found.items():
        results = [r for frame, p in enumerate(poses) for r in p.to_coco(frame)]
        frames = [Frame(t, a, p) for t, a, p in zip(truths, frame_areas, poses, strict=True)]
        scores = asdict(score_video(frames))
        mode = name.split()[0]
        rows[name] = {
            "AP": evaluate(gt, results)["AP"],
            **scores,
            "s/frame": seconds[mode] / len(truths),
        }
    rows["video"]["full passes"] = modes["video"].full_passes
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--model", default=multipose.DEFAULT_MODEL)
    parser.add_argument("--clips", nargs="*", choices=[*CLIPS, *TUNING])
    parser.add_argument("--tuning", action="store_true", help="the train2017 tuning clips")
    parser.add_argument("--every", type=int, default=EVERY, help="video mode's K")
    args = parser.parse_args()
    clips, coco = (TUNING, TRAIN) if args.tuning else (CLIPS, COCO)
    if set(args.clips or ()) - set(clips):
        parser.error("--clips: the tuning clips need --tuning, the others none")
    torch.set_num_threads(1)
    model = multipose.load(args.model)
    smoothing = OneEuro()
    tuning = (" --tuning" if args.tuning else "") + (
        f" --every {args.every}" if args.every != EVERY else ""
    )
    lines = [
        "# Video: per-photo mode and video mode on synthetic-motion clips"
        + (" (tuning clips)" if args.tuning else ""),
        "",
        f"`python bench/video.py --frames {args.frames}{tuning}`; clips made from "
        f"{coco.name} photos"
        + (
            ""
            if args.tuning
            else " (ski.jpg for the first; the settings were tuned on other "
            "clips, made from coco-mini-train2017: `--tuning`)"
        )
        + f"; model `{args.model}` (weights from the "
        f"cache), {args.frames} frames per clip at {FPS:g} fps, video mode with the whole model "
        f"every {args.every} frames, tracker defaults, One-Euro min_cutoff "
        f"{smoothing.min_cutoff} Hz, beta {smoothing.beta}, run both ways with a lag of "
        f"{TwoWayOneEuro().lag} frames (as `--smooth` on a file). AP: COCO keypoint AP over the "
        "clip's frames; recall: true "
        "people (any keypoint labelled and in view) matched at OKS >= 0.5; complete: frames "
        "with every true person matched; switches: a true person matched to another id than "
        "last time (one keeps their last id while it still matches, as in CLEAR MOT); "
        "fragments: ids beyond the first per true person; jitter: mean |acceleration "
        "found - true| of keypoints labelled and found in 3 frames in a row (px/frame^2); "
        "s/frame: 1 thread, each frame through both modes in turn.",
        "",
        "| clip | mode | AP | recall | complete | switches | fragments | jitter | s/frame |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for clip in args.clips or clips:
        source, motion = clips[clip]
        motion = Motion(**{**asdict(motion), "frames": args.frames})
        rows = run_clip(model, source, motion, smoothing, coco, args.every)
        for name, r in rows.items():
            extra = f" ({r['full passes']} full passes)" if "full passes" in r else ""
            lines.append(
                f"| {clip} | {name}{extra} | {r['AP']:.3f} | {r['recall']:.3f} | "
                f"{r['complete_frames']:.2f} | {r['id_switches']} | {r['fragments']} | "
                f"{r['jitter']:.2f} | {r['s/frame']:.2f} |"
            )
            print(lines[-1], flush=True)
        speedup = rows["per-photo"]["s/frame"] / rows["video"]["s/frame"]
        lines.append(f"| {clip} | video mode speed-up | | | | | | | {speedup:.1f}x |")
    report = ("video_tuning" if args.tuning else "video") + (
        f"_every{args.every}" if args.every != EVERY else ""
    )
    print("->", write_report(f"{report}.md", lines))


if __name__ == "__main__":
    main()
