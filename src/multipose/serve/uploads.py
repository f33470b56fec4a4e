"""Uploaded files: saved into the request's temporary folder, checked against the server's
limits, and read with the package's readers. Every refusal is an `ApiError` whose message
names the uploaded file."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from multipose.errors import MultiposeError
from multipose.io.media import read_image


class ApiError(Exception):
    """A request refused with an HTTP `status` and a one-line `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Limits:
    """What one request may ask: upload sizes (bytes), pixels per image or frame, frames per
    video, and seconds per image and per video (waiting in the queue included)."""

    image_bytes: int = 20 * 2**20
    video_bytes: int = 100 * 2**20
    pixels: int = 40_000_000
    frames: int = 300
    image_seconds: float = 60.0
    video_seconds: float = 600.0


def save(upload: BinaryIO, name: str, folder: Path, max_bytes: int) -> Path:
    """The upload copied into `folder` (under a fixed name keeping only its extension), or
    413 if it is over `max_bytes`; an empty upload is 422."""
    suffix = Path(name).suffix.lower()
    path = folder / f"upload{suffix if suffix.isascii() and suffix[1:].isalnum() else ''}"
    with path.open("wb") as out:
        shutil.copyfileobj(upload, out, 2**20)
    size = path.stat().st_size
    if size > max_bytes:
        raise ApiError(413, f"{name}: {size} bytes, over the limit of {max_bytes}")
    if size == 0:
        raise ApiError(422, f"{name}: the file is empty")
    return path


def load_image(path: Path, name: str, limits: Limits) -> np.ndarray:
    """The RGB image of an uploaded file: 415 if it is not an image, 413 if it has more
    pixels than allowed, 422 if it is broken."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise ApiError(415, f"{name}: not an image (JPEG, PNG, WebP, BMP or TIFF)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ApiError(422, f"{name}: truncated or corrupt image ({exc})") from None
    _check_pixels(name, width, height, limits)
    try:
        return read_image(path)
    except MultiposeError as exc:
        raise ApiError(422, f"{name}: {_reason(exc)}") from None


def check_video(path: Path, name: str, limits: Limits) -> None:
    """415 if OpenCV cannot read the upload as a video, 413 if its header states more frames
    or pixels per frame than allowed."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened() or capture.get(cv2.CAP_PROP_FRAME_WIDTH) <= 0:
            raise ApiError(415, f"{name}: not a video this server can read (MP4, WebM, AVI, MOV)")
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    _check_pixels(name, width, height, limits)
    if frames > limits.frames:
        raise ApiError(413, f"{name}: {frames} frames, over the limit of {limits.frames}")


def _check_pixels(name: str, width: int, height: int, limits: Limits) -> None:
    if width * height > limits.pixels:
        raise ApiError(
            413, f"{name}: {width}x{height} pixels, over the limit of {limits.pixels} pixels"
        )


def _reason(exc: MultiposeError) -> str:
    """The error's message without the (temporary) path it names."""
    return str(exc).removeprefix(f"{exc.path}: ") if exc.path else str(exc)
