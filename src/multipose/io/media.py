"""Reading and writing images: files, folders and globs, as RGB uint8 arrays."""

from __future__ import annotations

import glob
import re
import time
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import av
import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from multipose.errors import MultiposeError, quiet
from multipose.io.files import replacing

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


class ImageReadError(MultiposeError):
    """An image file that cannot be read: missing, empty, truncated or not an image."""


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as RGB uint8 (H, W, 3), upright per its EXIF orientation; one of more
    pixels than Pillow's decompression-bomb limit is refused.

    Grayscale is replicated to three channels, 16-bit and float images are scaled to 8 bits,
    and transparent images are composited over white."""
    path = Path(path)
    if not path.exists():
        raise ImageReadError("no such file", path)
    if not path.is_file():
        raise ImageReadError("not a file", path)
    if path.stat().st_size == 0:
        raise ImageReadError("file is empty", path)
    try:
        with Image.open(path) as image:
            limit = Image.MAX_IMAGE_PIXELS
            if limit is not None and image.width * image.height > limit:
                raise _too_large(f"{image.width}x{image.height}", path)
            image.load()
            return _to_rgb8(_upright(image))
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:  # over twice the limit: refused in `open`
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(f"{int(pixels[1]):,} pixels" if pixels else "", path) from None
    except UnidentifiedImageError:
        raise ImageReadError("not an image (format not recognised)", path) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"truncated or corrupt image ({exc})", path) from None


def _too_large(size: str, path: Path) -> ImageReadError:
    """The error of an image over Pillow's `Image.MAX_IMAGE_PIXELS` (its guard against
    decompression bombs, 89.5 million pixels unless set otherwise)."""
    return ImageReadError(
        f"too large to read ({size}, over the limit of {Image.MAX_IMAGE_PIXELS:,} pixels, "
        "PIL.Image.MAX_IMAGE_PIXELS); downscale it",
        path,
    )


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says, or as stored where the EXIF block is
    damaged: the pixels are what counts."""
    with quiet():  # Pillow's "Corrupt EXIF data" and the like
        try:
            return ImageOps.exif_transpose(image)
        except Exception:  # a damaged block raises anything: struct.error, TypeError, ...
            return image


def _to_rgb8(image: Image.Image) -> np.ndarray:
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        alpha = rgba[..., 3:] / 255.0
        return np.round(rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image).astype(np.float64)
        if image.mode == "F" and values.max(initial=0) <= 1.0:
            values = values * 255.0
        elif image.mode != "F":
            values = values / 257.0  # 16-bit range onto 8 bits
        gray = np.clip(np.round(values), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write an RGB uint8 image, atomically (see `replacing`); the format follows the file
    extension."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise MultiposeError(
            f"cannot write {path.suffix!r} images; use one of {', '.join(IMAGE_EXTENSIONS)}",
            path,
        )
    ok, encoded = cv2.imencode(path.suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise MultiposeError("could not write the image", path)
    with replacing(path) as tmp:
        tmp.write_bytes(encoded.tobytes())


def list_images(inputs: Iterable[str | Path]) -> list[Path]:
    """The image files of `inputs` (see `list_inputs`)."""
    return list_inputs(inputs)[0]


def list_inputs(inputs: Iterable[str | Path]) -> tuple[list[Path], list[Path | int]]:
    """Files, folders and glob patterns expanded into image files and videos (by extension),
    each list in the order given (a folder's files and a pattern's matches sorted); a folder
    gives its images and videos only (one with none is an error, as a pattern matching
    nothing is); a number that names no file is a camera index."""
    images: list[Path] = []
    videos: list[Path | int] = []

    def add(path: Path) -> None:
        (videos if path.suffix.lower() in VIDEO_EXTENSIONS else images).append(path)

    for item in inputs:
        text = str(item)
        path = Path(text)
        if any(c in text for c in "*?["):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
            if not matches:
                raise MultiposeError(f"no file matches the pattern {text!r}")
            for match in matches:
                if match.is_file():
                    add(match)
        elif path.is_dir():
            children = [
                child
                for child in sorted(path.iterdir())
                if child.suffix.lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS
            ]
            if not children:
                raise MultiposeError(
                    f"no image or video in this folder (by extension: "
                    f"{', '.join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)})",
                    path,
                )
            for child in children:
                add(child)
        elif path.exists():
            add(path)
        elif text.isdigit():
            videos.append(int(text))
        elif path.suffix.lower() in VIDEO_EXTENSIONS:
            videos.append(path)  # reported when its turn comes, after the images are done
        else:
            raise MultiposeError("no such file or folder", path)
    return images, videos


def iter_images(
    paths: Iterable[str | Path],
) -> Iterator[tuple[Path, np.ndarray | None, ImageReadError | None]]:
    """Yield `(path, image, None)` per readable file and `(path, None, error)` per bad one,
    so that a batch can report a bad file and go on."""
    for path in paths:
        try:
            yield Path(path), read_image(path), None
        except ImageReadError as exc:
            yield Path(path), None, exc


def iter_video(path: str | Path | int) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame index, timestamp in ms, RGB uint8 frame) of each frame of a video file (its own
    timestamps), or of a camera given by its index (ms since its first frame)."""
    camera = isinstance(path, int)
    if camera:
        capture = cv2.VideoCapture(path)
        path = Path(f"camera {path}")
        if not capture.isOpened():
            raise MultiposeError("no such camera", path)
    else:
        path = Path(path)
        if not path.is_file():
            raise MultiposeError("no such file", path)
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise MultiposeError("not a video OpenCV can read", path)
    try:
        index, start = 0, time.monotonic()
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if camera:
                time_ms = 1000 * (time.monotonic() - start) if index else 0.0
            else:
                time_ms = float(capture.get(cv2.CAP_PROP_POS_MSEC))
            yield index, time_ms, frame[..., ::-1].copy()
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise MultiposeError("no frame could be read", path)


def video_frames(path: str | Path) -> int | None:
    """The frame count a video file's header states, or None where it states none."""
    capture = cv2.VideoCapture(str(path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    return count if count > 0 else None


def video_fps(path: str | Path) -> float:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return fps if fps and fps > 0 else 25.0


class VideoWriter:
    """Writes RGB frames at `fps` into a video browsers play: H.264 in .mp4 or VP9 in .webm
    (PyAV, whose wheels carry both encoders), or Motion JPEG in .avi (every frame on its own,
    for tools that want that), sized by the first frame (an odd side padded by a pixel). The
    file appears when it is closed (written aside, then renamed)."""

    CODECS: ClassVar[dict[str, tuple[str, str]]] = {  # suffix: codec, pixel format
        ".mp4": ("libx264", "yuv420p"),
        ".webm": ("libvpx-vp9", "yuv420p"),
        ".avi": ("mjpeg", "yuvj420p"),
    }

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path, self.fps = Path(path), fps
        if self.path.suffix.lower() not in self.CODECS:
            raise MultiposeError(
                "videos are written as .mp4 (H.264), .webm (VP9) or .avi (MJPEG)", self.path
            )
        self._part = self.path.with_name(f".{self.path.name}.part{self.path.suffix}")
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None

    def write(self, frame: np.ndarray) -> None:
        if self._container is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self._part), "w")
            rate = Fraction(self.fps).limit_denominator(1001)
            codec, pixels = self.CODECS[self.path.suffix.lower()]
            self._stream = self._container.add_stream(codec, rate)
            self._stream.width = frame.shape[1] + frame.shape[1] % 2
            self._stream.height = frame.shape[0] + frame.shape[0] % 2
            self._stream.pix_fmt = pixels
        pad = ((0, self._stream.height - frame.shape[0]), (0, self._stream.width - frame.shape[1]))
        frame = np.pad(frame, (*pad, (0, 0)), mode="edge")
        self._container.mux(self._stream.encode(av.VideoFrame.from_ndarray(frame, "rgb24")))

    def close(self) -> None:
        """Flushes the encoder and puts the file in place."""
        if self._container is not None:
            self._container.mux(self._stream.encode())
            self._container.close()
            self._part.replace(self.path)
            self._container = None
