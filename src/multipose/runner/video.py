"""The local executor of a video file or camera: every frame estimated, written and indexed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from multipose.errors import MultiposeError
from multipose.io.csv_file import csv_rows
from multipose.io.jsonfile import read_json, write_json
from multipose.io.media import VideoWriter, iter_video, video_fps, video_frames
from multipose.poses import Poses
from multipose.render import draw
from multipose.runner.images import Estimate, Summary, batches
from multipose.runner.outputs import Outputs
from multipose.runner.register import free_name
from multipose.smoothing import OneEuro, TwoWayOneEuro
from multipose.tracking import Tracker


def video_names(videos: Sequence[Path | int]) -> list[str]:
    """The name of each video's outputs: its stem (`camera<N>` for a camera), else, where an
    earlier video of the job has that name, its stem and extension, then a number."""
    names: list[str] = []
    for video in videos:
        names.append(f"camera{video}" if isinstance(video, int) else free_name(video, set(names)))
    return names


def video_done(video: Path | int, outputs: Outputs, name: str) -> bool:
    """Whether a video file's frame index lists as many frames as its header states (a camera,
    or a video whose header states none, is never done)."""
    if isinstance(video, int):
        return False
    index = outputs.folder / f"{name}_frames.json"
    if not index.is_file():
        return False
    try:
        frames = read_json(index)
    except MultiposeError:
        return False
    return isinstance(frames, list) and len(frames) == video_frames(video)


def estimate_video(
    estimate: Estimate,
    video: Path | int,
    outputs: Outputs,
    summary: Summary,
    min_score: float = 0.0,
    track: bool = False,
    batch_size: int = 1,
    on_frame: Callable[[], None] | None = None,
    name: str | None = None,
    smooth: OneEuro | TwoWayOneEuro | None = None,
) -> None:
    """Every frame of a video file or camera, `batch_size` frames per call of `estimate`, into
    outputs called `name` (default: the video's stem, `camera<N>`): OpenPose JSON per frame in a
    folder of its own, as OpenPose's `--write_json` writes it
    (`<name>_keypoints/<name>_<frame>_keypoints.json`), an index of the frames' times and files
    (`<name>_frames.json`), the video's COCO results (`<name>_coco_results.json`, image id = frame
    number), its CSV (`<name>.csv`), an overlay video at the input's frame rate; with `track`,
    people keep an id across frames, and the ids with their frames go into `summary.tracks` and
    `<name>_tracks.json`. With `smooth` (which implies `track`), the keypoints written are smoothed,
    and the raw ones kept in `<name>_raw_coco_results.json` (a TwoWayOneEuro writes each frame `lag`
    frames late, and those it holds at the end, or when the video breaks off, then). Frames and
    people are counted into `summary` as each frame is done. If the video breaks off or the job is
    interrupted, what was done stays: files closed, index and results written; a video that gives
    fewer frames than its header states is then a `MultiposeError`."""
    camera = isinstance(video, int)
    name = name or (f"camera{video}" if camera else video.stem)
    fps = 25.0 if camera else video_fps(video)
    tracker = Tracker() if track or smooth else None
    writer = VideoWriter(outputs.folder / f"{name}_rendered.mp4", fps) if outputs.render else None
    folder = f"{name}_keypoints"
    frames_only = Outputs(outputs.folder / folder, outputs.openpose, layout=outputs.layout)
    index, results, raw, rows = [], [], [], []

    def write(frame: int, time_ms: float, image: np.ndarray, people: Poses) -> None:
        """One frame's outputs written (its JSON, overlay frame) or gathered, and counted."""
        frame_name = f"{name}_{frame:012d}"
        frames_only.write(frame_name, image, people)
        summary.frames += 1
        summary.people += len(people)
        results.extend(people.to_coco(frame))
        if outputs.csv:
            rows.extend(csv_rows(str(video), people, outputs.layout, frame, time_ms))
        index.append(
            {
                "frame": frame,
                "time_ms": round(time_ms, 3),
                "people": len(people),
                "file": f"{folder}/{frame_name}_keypoints.json",
            }
        )
        if writer is not None:
            writer.write(draw(image, people, 0.05, ids=tracker is not None))
        if on_frame is not None:
            on_frame()

    try:
        for batch in batches(iter_video(video), batch_size):
            frames, times, images = zip(*batch, strict=True)
            for frame, time_ms, image, people in zip(
                frames, times, images, estimate(images, frames), strict=True
            ):
                people = people.filter(min_score=min_score)
                if tracker is not None:
                    people = tracker.update(people)
                if smooth is None:
                    write(frame, time_ms, image, people)
                    continue
                raw += people.to_coco(frame)
                for held, smoothed in smooth.push((frame, time_ms, image), people, time_ms / 1000):
                    write(*held, smoothed)
    finally:
        try:
            for held, smoothed in smooth.flush() if smooth is not None else []:
                write(*held, smoothed)  # the frames a two-way smoother still held
        finally:
            if writer is not None:
                writer.close()
            if index:
                write_json(outputs.folder / f"{name}_frames.json", index, indent=1)
                outputs.write_coco(results, name)
                outputs.write_csv(rows, name)
                if smooth is not None:
                    outputs.write_coco(raw, f"{name}_raw")
                if tracker is not None:
                    summary.tracks[name] = tracker.summary()
                    write_json(
                        outputs.folder / f"{name}_tracks.json", summary.tracks[name], indent=1
                    )
    stated = None if camera else video_frames(video)
    if stated is not None and len(index) < stated:
        raise MultiposeError(
            f"only {len(index)} of the {stated} frames its header states could be read "
            "(cut off or damaged); those were written",
            video,
        )
