"""ONNX exports kept on disk: a new process loads the export of a network it met before instead
of tracing it again (the trace was 1.7 s of the default model's first photo).

An export is found by a key made without tracing: multipose's own source code, the torch and
onnx versions, the input shape and free axes, each submodule's class and settings, and every
weight as it is in memory now. A module can be keyed only where all of that says what it
computes: its classes are multipose's or torch.nn's (a user's class may change its code under
the same weights), no hooks are set, and each submodule's attributes are plain values, or it
says what it was built from (`export_fingerprint()`: the TFLite and GraphDef executors give
their file's digest). Anything else is exported every time. The cache is kept under
`cache_dir()/onnx` (at most MAX_BYTES: the least recently used exports go first)."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import torch
from torch import nn

MAX_BYTES = 1 << 30
KEYED_PACKAGES = ("multipose.", "torch.nn.")
_PLAIN = (type(None), bool, int, float, str)


def cached_onnx(module: nn.Module, shape: Sequence[int], free: Sequence[int] = (0,)) -> object:
    """`traced_onnx(module, shape, free)`, from the cache where this export was made before
    (then written there)."""
    import onnx
    from google.protobuf.message import DecodeError

    from multipose.io.files import cache_dir, replacing
    from multipose.runtime.onnx import traced_onnx

    key = export_key(module, shape, free)
    if key is None:
        return traced_onnx(module, shape, free)
    folder = cache_dir() / "onnx"
    path = folder / f"{key}.onnx"
    try:
        graph = onnx.load_from_string(path.read_bytes())
    except (OSError, DecodeError):  # not made yet, or damaged: made again
        graph = None
    if graph is not None:
        with contextlib.suppress(OSError):  # a read-only cache is still used
            os.utime(path)  # recently used
        return graph
    graph = traced_onnx(module, shape, free)
    try:
        with replacing(path) as part:
            part.write_bytes(graph.SerializeToString())
        _trim(folder, MAX_BYTES)
    except OSError:  # a cache that cannot be written only costs time
        pass
    return graph


def export_key(module: nn.Module, shape: Sequence[int], free: Sequence[int]) -> str | None:
    """The export's key (hex), or None where `module` cannot be keyed (see the module's
    docstring)."""
    import onnx

    lines = [
        _code_digest(),
        torch.__version__,
        onnx.__version__,
        repr(tuple(shape)),
        repr(tuple(free)),
    ]
    for name, sub in module.named_modules():
        described = _described(sub)
        if described is None:
            return None
        lines.append(f"{name}: {described}")
    weights = [*module.named_parameters(), *module.named_buffers()]
    for name, tensor in weights:
        lines.append(f"{name} {tensor.dtype} {tuple(tensor.shape)}")
    digest = hashlib.sha256("\n".join(lines).encode())
    if weights:  # one update: hashlib lets the GIL go in each, and may wait to get it back
        data = [t.detach().cpu().reshape(-1).view(torch.uint8) for _, t in weights]
        digest.update(torch.cat(data).numpy().data)  # any dtype, bfloat16 too
    return digest.hexdigest()


def _described(module: nn.Module) -> str | None:
    """A submodule's class and settings, or None where they may not say what it computes."""
    kind = type(module)
    name = f"{kind.__module__}.{kind.__qualname__}"
    if not name.startswith(KEYED_PACKAGES):
        return None
    if module._forward_hooks or module._forward_pre_hooks:
        return None
    fingerprint = getattr(module, "export_fingerprint", None)
    if fingerprint is not None:
        made_from = fingerprint()
        return None if made_from is None else f"{name} {made_from}"
    settings = {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"}
    if not all(_plain(value) for value in settings.values()):
        return None
    return f"{name} {sorted((k, _stable(v)) for k, v in settings.items())!r}"


def _plain(value: object) -> bool:
    """Whether a setting is a plain value, or a tuple, list or set of them."""
    if isinstance(value, tuple | list | set | frozenset):
        return all(_plain(item) for item in value)
    return isinstance(value, _PLAIN)


def _stable(value: object) -> object:
    """A plain setting with its sets sorted (their order is not the same in every process)."""
    if isinstance(value, set | frozenset):
        return sorted((_stable(item) for item in value), key=repr)
    if isinstance(value, tuple | list):
        return type(value)(_stable(item) for item in value)
    return value


@cache
def _code_digest() -> str:
    """sha256 of multipose's Python source files (their paths and contents)."""
    root = Path(__file__).resolve().parents[1]
    files = sorted(root.rglob("*.py"))
    source = b"".join(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() for p in files)
    return hashlib.sha256(source).hexdigest()  # one update (see export_key)


def _trim(folder: Path, limit: int) -> None:
    """Delete the least recently used exports until the folder holds at most `limit` bytes."""
    files = []
    for path in folder.glob("*.onnx"):
        try:
            stat = path.stat()
        except OSError:
            continue
        files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):
        if total <= limit:
            break
        path.unlink(missing_ok=True)
        total -= size
