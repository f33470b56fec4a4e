"""A short clip's people, frame by frame, with ids kept across frames and an overlay video."""

from __future__ import annotations

import base64
import time
from pathlib import Path

from multipose.io.media import VideoWriter, iter_video, video_fps
from multipose.pipelines import Pipeline
from multipose.render import draw
from multipose.serve.answers import people_json
from multipose.serve.engine import TimeLimit
from multipose.serve.uploads import ApiError, Limits
from multipose.skeleton import Layout
from multipose.tracking import Tracker


def track_clip(
    path: Path,
    name: str,
    pipeline: Pipeline,
    layout: Layout,
    min_score: float,
    limits: Limits,
    deadline: float,
    overlay: Path | None,
) -> dict:
    """Every frame of the clip at `path` (uploaded as `name`): its number, time and people
    (in `layout`, tracked); the clip's size and frame count; with `overlay` (a .webm path),
    the people drawn on each frame as a WebM data URL. 413 past `limits.frames`; TimeLimit
    past the `time.monotonic()` `deadline`."""
    tracker = Tracker()
    writer = VideoWriter(overlay, video_fps(path)) if overlay else None
    frames, size = [], (0, 0)
    try:
        for frame, time_ms, image in iter_video(path):
            if frame >= limits.frames:
                raise ApiError(413, f"{name}: over the limit of {limits.frames} frames")
            if time.monotonic() > deadline:
                raise TimeLimit
            people = tracker.update(pipeline(image).filter(min_score=min_score))
            if writer:
                writer.write(draw(image, people, 0.05, ids=True))
            size = image.shape[1::-1]
            frames.append(
                {
                    "frame": frame,
                    "time_ms": round(time_ms, 2),
                    "people": people_json(people.convert(layout)),
                }
            )
    finally:
        if writer:
            writer.close()
    answer = {
        "video": {"name": name, "width": size[0], "height": size[1], "frames": len(frames)},
        "frames": frames,
    }
    if overlay:
        data = base64.b64encode(overlay.read_bytes()).decode("ascii")
        answer["overlay"] = f"data:video/webm;base64,{data}"
    return answer
