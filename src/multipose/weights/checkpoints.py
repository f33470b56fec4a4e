"""Reading PyTorch checkpoints safely and filling our networks from them.

A weights file is untrusted input: `.pt`/`.pth` files are opened with
`torch.load(weights_only=True)`, which refuses pickles that would build arbitrary objects (and
so run code), and `.safetensors` files hold nothing but tensors. Foreign key names are mapped
onto ours; missing, unexpected and mis-shaped keys are reported together in one message.
Whatever a checkpoint holds beside its state dict (mmcv's "meta": version strings, the config
text, epoch and iteration counts; an optimizer's state) passes the same check and is ignored.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from multipose.errors import MultiposeError, quiet

# Keys under which training scripts nest the state dict, outermost first.
_WRAPPERS = ("state_dict", "model", "net")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint, unwrapped from {"state_dict": ...} and stripped of
    DataParallel's "module." prefixes."""
    path = Path(path)
    if not path.is_file():
        raise MultiposeError("no such file", path)
    if path.suffix == ".safetensors":
        try:
            state = load_file(path)
        except Exception:  # safetensors raises its own kinds for damaged files
            raise MultiposeError(
                "not a safetensors file (damaged, cut short or another kind of file)", path
            ) from None
    else:
        state = load_pickled(path)
    while isinstance(state, dict) and any(isinstance(state.get(k), dict) for k in _WRAPPERS):
        state = next(state[k] for k in _WRAPPERS if isinstance(state.get(k), dict))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise MultiposeError("not a state dict of tensors", path)
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_pickled(path: Path) -> Any:
    """What a PyTorch file (`torch.save`) holds, read with `weights_only=True`: tensors,
    numbers, strings and containers. Anything else is refused, in our words (torch's own
    message suggests `weights_only=False`, which would run whatever the file holds)."""
    try:
        with quiet():  # torch's notes on pickle protocols
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+) was not an allowed global", str(exc))
        if found:
            raise MultiposeError(
                f"refused: besides tensors it holds a pickled {found[1]}, and unpickling that "
                "could run code",
                path,
            ) from None
        raise MultiposeError(_NOT_PYTORCH, path) from None
    except Exception:  # torch raises many kinds for damaged files
        raise MultiposeError(_NOT_PYTORCH, path) from None


_NOT_PYTORCH = "not a PyTorch checkpoint (damaged, cut short or another kind of file)"


def fill(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    rename: Callable[[str], str | None] = lambda key: key,
    path: str | Path | None = None,
) -> nn.Module:
    """Load `state` into `model`, its keys mapped by `rename` (None drops a key). Batch norms'
    step counters may be absent; anything else missing, unexpected or of another shape is an
    error listing them all."""
    ours = model.state_dict()
    mapped = {}
    for key, value in state.items():
        target = rename(key)
        if target is not None:
            mapped[target] = value
    missing = [k for k in ours if k not in mapped and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in mapped if k not in ours]
    wrong = [
        f"{k} {tuple(v.shape)} (network {tuple(ours[k].shape)})"
        for k, v in mapped.items()
        if k in ours and v.shape != ours[k].shape
    ]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if keys:
            shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
            problems.append(f"{len(keys)} {label}: {shown}")
    if problems:
        raise MultiposeError(
            f"weights do not fit {type(model).__name__}: " + "; ".join(problems), path
        )
    model.load_state_dict(mapped, strict=False)
    return model.eval()


def mmpose_rename(head: tuple[str, ...]) -> Callable[[str], str]:
    """Keys of an mmpose 0.x checkpoint mapped onto the original authors' names (which ours
    follow). mmpose's `TopDown` and `BottomUp`/`AssociativeEmbedding` keep the network under
    `backbone.` and `keypoint_head.`; below those prefixes the names are the original's (mmcv's
    `build_norm_layer` names batch norms `bn1`, `bn2`..., Sequential indices are the same).
    `head`: our top-level modules that mmpose's head holds. Any other key (under no prefix, or
    under the other one) is left as it is, so it fits only if it is ours already."""

    def rename(key: str) -> str:
        scope, _, rest = key.partition(".")
        inside_head = rest.partition(".")[0] in head
        if (scope, inside_head) in (("backbone", False), ("keypoint_head", True)):
            return rest
        return key

    return rename


def write_safetensors(path: str | Path, model: nn.Module) -> None:
    """Save a network's weights as safetensors (tensors only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def load_weights(
    model: nn.Module, path: str | Path, rename: Callable[[str], str | None] = lambda key: key
) -> nn.Module:
    """Fill `model` from a checkpoint in its public format (keys mapped by `rename`) or in ours
    (as `multipose convert-weights` writes it)."""
    state = read_state_dict(path)
    ours = model.state_dict()
    if all(key in ours for key in state):
        return fill(model, state, path=path)
    return fill(model, state, rename, path)
