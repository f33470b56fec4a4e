"""A restricted reader of PyTorch checkpoints (`torch.save`'s zip files) that hold pickled
objects of other libraries' classes, e.g. Ultralytics' models.

It rebuilds tensors (from the zip's storages), plain containers (dict, OrderedDict, list,
tuple, set) and `torch.Size`; every other name the pickle gives becomes an inert `Record`
class, whose objects hold their module, name and pickled state, so a module object's
parameters can be read from its `_parameters`, `_buffers` and `_modules`. Nothing the file
names is imported or called: a pickle that asks to call anything but those reconstructors and
the classes of the libraries in RECORDED_MODULES (calls that only make records) stops the
reading with one error naming it.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from multipose.errors import MultiposeError

STORAGE_DTYPES = {
    "DoubleStorage": torch.float64,
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}
# Classes of these libraries may be called by the pickle (copyreg-style construction): the
# call makes a record, never the object. So may NumPy's reconstructors (arrays and scalars in
# training metrics).
RECORDED_MODULES = ("ultralytics.", "torch.nn.", "numpy", "pathlib", "types", "argparse")
RECORDED_CALLS = {"_reconstruct", "scalar", "dtype"}


class Record:
    """An object the checkpoint holds, of a class that is not rebuilt: `module` and `name` of
    its class, `args` it was constructed with, and `state` (the pickled state, usually the
    object's __dict__). Only classes of RECORDED_MODULES may be called by the pickle; calling
    any other name stops the reading."""

    module: str = ""
    name: str = ""
    callable: bool = False
    args: tuple = ()
    state: Any = None

    def __init__(self, *args: Any) -> None:
        if not self.callable:
            raise pickle.UnpicklingError(f"it asks to call {self.qualified}, which is not run here")
        self.args, self.state = args, None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def get(self, key: str, default: Any = None) -> Any:
        """An attribute from the pickled state (a dict, or a (dict, slots) pair)."""
        state = self.state[0] if isinstance(self.state, tuple) else self.state
        return state.get(key, default) if isinstance(state, dict) else default

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.name}"

    def __repr__(self) -> str:
        return f"Record({self.qualified})"


def _record_class(module: str, name: str) -> type[Record]:
    """An inert stand-in for the class (or function) `module.name`."""
    attributes = {"module": module, "name": name, "__module__": __name__}
    attributes["callable"] = module.startswith(RECORDED_MODULES) and (
        name[:1].isupper() or (module.startswith("numpy") and name in RECORDED_CALLS)
    )
    return type(name, (Record,), attributes)


def _reconstruct(cls: type, base: Any, state: Any) -> Record:
    """copyreg's construction of an object of `cls` (protocols 0 and 1), as a record."""
    if not (isinstance(cls, type) and issubclass(cls, Record)):
        raise pickle.UnpicklingError(f"cannot reconstruct {cls!r}")
    return cls.__new__(cls)


class _Storage:
    """A tensor storage: a flat tensor of one dtype."""

    def __init__(self, data: torch.Tensor) -> None:
        self.data = data


def _rebuild_tensor(
    storage: _Storage, offset: int, size: tuple, stride: tuple, *_: Any
) -> torch.Tensor:
    return torch.as_strided(storage.data, tuple(size), tuple(stride), offset)


def _rebuild_parameter(data: torch.Tensor, *_: Any) -> torch.Tensor:
    return data


def _getattr(owner: Any, name: str, *default: Any) -> Record:
    """A recorded attribute access (e.g. a pickled bound method): never looked up."""
    cls = _record_class("builtins", "getattr")
    record = cls.__new__(cls)
    record.args = (owner, name, *default)
    return record


def _encode(text: str, encoding: str = "utf-8") -> bytes:
    """Bytes as protocol 2 pickles them (`_codecs.encode(text, "latin1")`)."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"bytes in encoding {encoding!r}")
    return text.encode("latin1")


REBUILT: dict[tuple[str, str], Callable[..., Any]] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "tuple"): tuple,
    ("builtins", "getattr"): _getattr,
    ("_codecs", "encode"): _encode,
    ("torch", "Size"): tuple,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix = archive, prefix
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        module = {"__builtin__": "builtins"}.get(module, module)
        if (module, name) in REBUILT:
            return REBUILT[module, name]
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        if module == "copyreg" and name == "_reconstructor":
            return _reconstruct
        return _record_class(module, name)

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        _, dtype, key, _location, numel = pid
        if not isinstance(dtype, torch.dtype):
            raise pickle.UnpicklingError(f"unknown storage type {dtype!r}")
        if key not in self.storages:
            raw = self.archive.read(f"{self.prefix}data/{key}")
            flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
            data = flat.view(dtype) if len(raw) else torch.empty(0, dtype=dtype)
            if data.numel() != numel:
                raise pickle.UnpicklingError(f"storage {key} holds {data.numel()}, not {numel}")
            self.storages[key] = _Storage(data)
        return self.storages[key]


def read_checkpoint(path: str | Path) -> Any:
    """The object a `torch.save` zip file holds, rebuilt as the module docstring says."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(pickles) != 1:
                raise MultiposeError("not a PyTorch checkpoint (no data.pkl in the zip)", path)
            prefix = pickles[0].removesuffix("data.pkl")
            names = set(archive.namelist())
            order = f"{prefix}byteorder"
            if order in names and archive.read(order).strip() != b"little":
                raise MultiposeError("a big-endian checkpoint is not supported", path)
            return _Unpickler(archive.read(pickles[0]), archive, prefix).load()
    except zipfile.BadZipFile:
        raise MultiposeError(
            "not a PyTorch zip checkpoint (older or other formats are not read)", path
        ) from None
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as exc:
        raise MultiposeError(f"unreadable checkpoint: {exc}", path) from None


def module_tensors(module: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """The parameters and buffers of a recorded torch module and of its submodules, as a
    state dict's (name, tensor) pairs."""
    if not isinstance(module, Record):
        return
    for group in ("_parameters", "_buffers"):
        for name, tensor in (module.get(group) or {}).items():
            if isinstance(tensor, torch.Tensor):
                yield f"{prefix}{name}", tensor
    for name, child in (module.get("_modules") or {}).items():
        yield from module_tensors(child, f"{prefix}{name}.")


def module_records(module: Any, prefix: str = "") -> Iterator[tuple[str, Record]]:
    """A recorded torch module's submodules (itself first, as ""), by dotted name."""
    if not isinstance(module, Record):
        return
    yield prefix.removesuffix("."), module
    for name, child in (module.get("_modules") or {}).items():
        yield from module_records(child, f"{prefix}{name}.")
