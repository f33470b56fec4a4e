"""Turning a device name from the user into a torch device this machine really has."""

from __future__ import annotations

import os

import torch

from multipose.errors import MultiposeError

_KNOWN = "use cpu, cuda, cuda:N or mps"


def torch_device(name: str | torch.device) -> torch.device:
    """`name` (cpu, cuda, cuda:N or mps) as a torch device, or a MultiposeError saying why
    this machine cannot run it. Under torchrun, a bare "cuda" is the process's own GPU
    (LOCAL_RANK)."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise MultiposeError(f"unknown device {str(name)!r}: {_KNOWN}") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise MultiposeError(
                f"device {str(name)!r}: this PyTorch ({torch.__version__}) sees no CUDA GPU; "
                "use --device cpu"
            )
        if device.index is None and "LOCAL_RANK" in os.environ:
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        index = 0 if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise MultiposeError(
                f"device {str(name)!r}: there is no GPU {index} "
                f"({torch.cuda.device_count()} visible)"
            )
        return device
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise MultiposeError(f"device {str(name)!r}: this machine or PyTorch has no MPS")
        return device
    raise MultiposeError(f"device {str(name)!r} is not supported: {_KNOWN}")
