"""BlazePose's TFLite files, taken out of the mediapipe 0.10.21 wheel on PyPI.

The wheel is Apache-2.0 (its `mediapipe-0.10.21.dist-info/LICENSE`; `License: Apache 2.0` in
its METADATA). pip (with the user's pip settings) downloads the one wheel of a fixed tag,
cp311-manylinux_2_28_x86_64, so the file is the same from any machine (35.6 MB, the smallest of
the release), into a temporary folder that is deleted afterwards. The three files are checked
against their sha256 and kept in `cache_dir()` / "mediapipe-0.10.21". mediapipe itself is never
installed or imported."""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from pathlib import Path

from multipose.errors import MultiposeError
from multipose.io.files import cache_dir
from multipose.weights.download import sha256_of, write_atomic
from multipose.weights.wheel import download_wheel

VERSION = "0.10.21"
PLATFORM = "manylinux_2_28_x86_64"
PYTHON_VERSION = "3.11"
ABI = "cp311"

# file name -> (path inside the wheel, sha256)
FILES: dict[str, tuple[str, str]] = {
    "pose_detection.tflite": (
        "mediapipe/modules/pose_detection/pose_detection.tflite",
        "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
    ),
    "pose_landmark_full.tflite": (
        "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
    ),
    "face_detection_full_range_sparse.tflite": (
        "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
        "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
    ),
}


def default_dir() -> Path:
    return cache_dir() / f"mediapipe-{VERSION}"


def _problems(folder: Path) -> dict[str, str]:
    """File name -> what is wrong with it in `folder`, for each file missing or corrupt."""
    problems = {}
    for name, (_, sha256) in FILES.items():
        path = folder / name
        if not path.is_file():
            problems[name] = "missing"
        elif sha256_of(path) != sha256:
            problems[name] = "corrupt: sha256 differs"
    return problems


def _download_wheel(folder: Path, index_url: str | None) -> Path:
    target = (
        f"--platform {PLATFORM} --python-version {PYTHON_VERSION} --implementation cp --abi {ABI}"
    )
    return download_wheel(
        f"mediapipe=={VERSION}", f"mediapipe-{VERSION}-*.whl", folder, index_url, target.split()
    )


def _read_checked(wheel: Path, names: list[str]) -> dict[str, bytes]:
    """The contents of the files `names` in the wheel, each checked against its sha256."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            contents = {name: archive.read(FILES[name][0]) for name in names}
    except (KeyError, zipfile.BadZipFile) as exc:
        raise MultiposeError(f"not a mediapipe {VERSION} wheel ({exc})", wheel.name) from None
    for name, data in contents.items():
        member, sha256 = FILES[name]
        if (actual := hashlib.sha256(data).hexdigest()) != sha256:
            raise MultiposeError(f"{member} has sha256 {actual}, expected {sha256}", wheel.name)
    return contents


def fetch_blazepose(dest: Path | None = None, index_url: str | None = None) -> Path:
    """The folder (`dest`, else the cache) holding BlazePose's files, taken out of the mediapipe
    wheel that pip downloads from `index_url` (else pip's configured index) unless every file
    is already there with the right sha256. Nothing is written unless every file checks out."""
    dest = Path(dest) if dest is not None else default_dir()
    todo = list(_problems(dest))
    if not todo:
        return dest
    with tempfile.TemporaryDirectory(prefix="multipose-mediapipe-") as tmp:
        contents = _read_checked(_download_wheel(Path(tmp), index_url), todo)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for name, data in contents.items():
            write_atomic(dest / name, data)
    except OSError as exc:
        raise MultiposeError(f"could not write the weights ({exc})", dest) from None
    return dest


def blazepose_files(weights: str | Path | None = None) -> dict[str, Path]:
    """BlazePose's files (by file name) in the folder `weights`, else in the cache, each checked
    against its sha256; one error names every file missing or corrupt and how to get them."""
    folder = Path(weights) if weights is not None else default_dir()
    if folder.is_file():
        raise MultiposeError(f"BlazePose weights are a folder holding {', '.join(FILES)}", folder)
    problems = _problems(folder)
    if problems:
        listed = ", ".join(f"{name} ({problem})" for name, problem in problems.items())
        command = "multipose weights fetch blazepose"
        if weights is not None:
            command += f" --dest {folder}"
        raise MultiposeError(
            f"BlazePose weights missing or corrupt: {listed}. Get them with `{command}` (takes "
            f"them out of the mediapipe {VERSION} wheel on PyPI), or give --weights DIR, a "
            "folder that holds them",
            folder,
        )
    return {name: folder / name for name in FILES}
