"""Turning a device name from the user into a torch device this machine really has."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def full_precision() -> Iterator[None]:
    """cuDNN convolutions in full float32 inside the block. PyTorch lets them use TF32 on
    recent NVIDIA GPUs, which moved keypoints by up to 41 px (BlazePose) and 2 px (MobileNet
    OpenPose) against the CPU on an H100 (bench/results/cuda_check.md), with no consistent
    speed-up for these networks."""
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = before
