"""YOLO11-pose (Ultralytics' architecture, our code), built from the architecture dict that its
checkpoints hold (`model.yaml`: backbone and head layer lists, the scale's depth and width
multipliers), so every size (n, s, m, l, x) builds from its own file.

Layers carry the checkpoint's parameter names (`model.<i>.cv1.conv.weight`, ...), so its state
dict loads as it is; `fold_batch_norms` then merges each convolution's batch norm into it for
inference. The network takes RGB 0..1 images whose sides are multiples of 32 and returns
`[(out,)]`: one stage with one tensor (N, 4 + classes + 3 K, A) over the A anchor points of
the stride 8, 16 and 32 grids: the box (centre x, y, width, height in input pixels, decoded
from distance distributions, DFL), the class scores (sigmoid), and K keypoints (x, y in input
pixels, visibility as a sigmoid).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from multipose.errors import MultiposeError

REG_MAX = 16  # bins of each box side's distance distribution
MAX_STRIDE = 32  # of the coarsest level
CONV_LIKE = {"Conv", "C3k2", "C3k", "SPPF", "C2PSA", "Bottleneck"}
REPEATED = {"C3k2", "C3k", "C2PSA"}  # their repeat count goes into their arguments


class Conv(nn.Module):
    """Convolution (no bias), batch norm, SiLU (or no activation); `k // 2` padding."""

    def __init__(
        self, c1: int, c2: int, k: int = 1, s: int = 1, g: int = 1, act: bool = True
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, groups=g, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(c2, eps=1e-3)
        # in place: the convolution's output is its own (and SiLU ran 2-25% faster so)
        self.act = nn.SiLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def fold(self) -> None:
        """The batch norm merged into the convolution (which gains a bias)."""
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        bn, conv = self.bn, self.conv
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            groups=conv.groups,
            bias=True,
        )
        with torch.no_grad():
            fused.weight.copy_(conv.weight * scale[:, None, None, None])
            fused.bias.copy_(bn.bias - bn.running_mean * scale)
        self.conv, self.bn = fused, nn.Identity()


def depthwise(c1: int, c2: int, k: int) -> Conv:
    return Conv(c1, c2, k, g=math.gcd(c1, c2))


class Bottleneck(nn.Module):
    def __init__(
        self, c1: int, c2: int, shortcut: bool = True, k: tuple[int, int] = (3, 3), e: float = 0.5
    ) -> None:
        super().__init__()
        hidden = int(c2 * e)
        self.cv1, self.cv2 = Conv(c1, hidden, k[0]), Conv(hidden, c2, k[1])
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3k(nn.Module):
    """CSP block of three convolutions around `n` bottlenecks of kernel `k`."""

    def __init__(
        self, c1: int, c2: int, n: int = 1, shortcut: bool = True, e: float = 0.5, k: int = 3
    ) -> None:
        super().__init__()
        hidden = int(c2 * e)
        self.cv1, self.cv2 = Conv(c1, hidden), Conv(c1, hidden)
        self.cv3 = Conv(2 * hidden, c2)
        self.m = nn.Sequential(
            *(Bottleneck(hidden, hidden, shortcut, (k, k), 1.0) for _ in range(n))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C3k2(nn.Module):
    """Split-and-grow block: the input's second half through `n` blocks (bottlenecks, or C3k
    blocks with `c3k`), every intermediate result concatenated."""

    def __init__(
        self, c1: int, c2: int, n: int = 1, c3k: bool = False, e: float = 0.5, shortcut: bool = True
    ) -> None:
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c)
        self.cv2 = Conv((2 + n) * self.c, c2)
        self.m = nn.ModuleList(
            C3k(self.c, self.c, 2, shortcut) if c3k else Bottleneck(self.c, self.c, shortcut)
            for _ in range(n)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for block in self.m:
            y.append(block(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling: three chained max pools of size `k`, concatenated."""

    def __init__(self, c1: int, c2: int, k: int = 5) -> None:
        super().__init__()
        hidden = c1 // 2
        self.cv1, self.cv2 = Conv(c1, hidden), Conv(hidden * 4, c2)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class Attention(nn.Module):
    """Multi-head self-attention over the positions of a feature map, plus a depthwise
    positional convolution of the values."""

    def __init__(self, dim: int, num_heads: int, attn_ratio: float = 0.5) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim**-0.5
        self.qkv = Conv(dim, dim + 2 * self.key_dim * num_heads, act=False)
        self.proj = Conv(dim, dim, act=False)
        self.pe = Conv(dim, dim, 3, g=dim, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = (
            self.qkv(x)
            .view(b, self.num_heads, -1, h * w)
            .split([self.key_dim, self.key_dim, self.head_dim], dim=2)
        )
        attention = ((q.transpose(-2, -1) @ k) * self.scale).softmax(dim=-1)
        y = (v @ attention.transpose(-2, -1)).view(b, c, h, w) + self.pe(v.reshape(b, c, h, w))
        return self.proj(y)


class PSABlock(nn.Module):
    def __init__(self, c: int, num_heads: int) -> None:
        super().__init__()
        self.attn = Attention(c, num_heads)
        self.ffn = nn.Sequential(Conv(c, 2 * c), Conv(2 * c, c, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.ffn(x)


class C2PSA(nn.Module):
    """Half of the channels through `n` attention blocks, the other half passed by."""

    def __init__(self, c1: int, c2: int, n: int = 1, e: float = 0.5) -> None:
        super().__init__()
        if c1 != c2:
            raise MultiposeError(f"C2PSA keeps its channels ({c1} in, {c2} out)")
        self.c = int(c1 * e)
        self.cv1, self.cv2 = Conv(c1, 2 * self.c), Conv(2 * self.c, c1)
        self.m = nn.Sequential(*(PSABlock(self.c, self.c // 64) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        return self.cv2(torch.cat((a, self.m(b)), 1))


class Concat(nn.Module):
    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, 1)


class Upsample(nn.Module):
    def __init__(self, factor: int, mode: str) -> None:
        super().__init__()
        self.factor, self.mode = factor, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=float(self.factor), mode=self.mode)


class PoseHead(nn.Module):
    """Per level: box distance distributions (cv2), class logits (cv3, depthwise) and
    keypoints (cv4); decoded over the anchor points (cell centres) of each level."""

    def __init__(self, nc: int, kpt_shape: tuple[int, int], channels: list[int]) -> None:
        super().__init__()
        if kpt_shape[1] != 3:
            raise MultiposeError(f"keypoints of {kpt_shape[1]} values are not supported (3 are)")
        self.nc, self.num_keypoints = nc, kpt_shape[0]
        nk = kpt_shape[0] * kpt_shape[1]
        c2 = max(16, channels[0] // 4, REG_MAX * 4)
        c3 = max(channels[0], min(nc, 100))
        c4 = max(channels[0] // 4, nk)
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * REG_MAX, 1))
            for x in channels
        )
        self.cv3 = nn.ModuleList(
            nn.Sequential(
                nn.Sequential(depthwise(x, x, 3), Conv(x, c3)),
                nn.Sequential(depthwise(c3, c3, 3), Conv(c3, c3)),
                nn.Conv2d(c3, nc, 1),
            )
            for x in channels
        )
        self.cv4 = nn.ModuleList(
            nn.Sequential(Conv(x, c4, 3), Conv(c4, c4, 3), nn.Conv2d(c4, nk, 1)) for x in channels
        )
        self.register_buffer("bins", torch.arange(REG_MAX, dtype=torch.float32), persistent=False)

    def forward(self, features: list[torch.Tensor], input_size: tuple[int, int]) -> torch.Tensor:
        n = features[0].shape[0]
        anchors, strides = _anchor_points(features, input_size)
        flat = [
            torch.cat((dist(x), cls(x), kpt(x)), 1).flatten(2)
            for x, dist, cls, kpt in zip(features, self.cv2, self.cv3, self.cv4, strict=True)
        ]
        raw = torch.cat(flat, 2)  # N, 64 + nc + 3K, A
        distances, logits, keypoints = raw.split((4 * REG_MAX, self.nc, 3 * self.num_keypoints), 1)
        bins = distances.view(n, 4, REG_MAX, -1).softmax(2)
        distances = (bins * self.bins[:, None]).sum(2)  # N, 4 (left, top, right, bottom), A
        top_left, bottom_right = anchors - distances[:, :2], anchors + distances[:, 2:]
        box = torch.cat(((top_left + bottom_right) / 2, bottom_right - top_left), 1) * strides
        keypoints = keypoints.view(n, self.num_keypoints, 3, -1)
        xy = (keypoints[:, :, :2] * 2.0 + (anchors - 0.5)) * strides
        keypoints = torch.cat((xy, keypoints[:, :, 2:].sigmoid()), 2).flatten(1, 2)
        return torch.cat((box, logits.sigmoid(), keypoints), 1)


def _anchor_points(
    features: list[torch.Tensor], input_size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The cell centres (1, 2, A) of every level in that level's cells, and each one's stride
    (1, 1, A): the input's height over the level's."""
    points, strides = [], []
    for x in features:
        h, w = x.shape[2:]
        ys = torch.arange(h, dtype=x.dtype, device=x.device) + 0.5
        xs = torch.arange(w, dtype=x.dtype, device=x.device) + 0.5
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack((grid_x, grid_y)).view(2, -1))
        strides.append(torch.full((1, h * w), input_size[0] / h, dtype=x.dtype, device=x.device))
    return torch.cat(points, 1)[None], torch.cat(strides, 1)[None]


class YoloPose(nn.Module):
    """YOLO11-pose from its architecture dict (see the module docstring); `nc` overrides the
    dict's class count (a trained head's may differ from its yaml's)."""

    def __init__(self, architecture: dict[str, Any], nc: int | None = None) -> None:
        super().__init__()
        try:
            self.scale = str(architecture["scale"])
            depth, width, max_channels = architecture["scales"][self.scale]
            self.nc = int(nc if nc is not None else architecture["nc"])
            kpt_shape = tuple(architecture["kpt_shape"])
            layers = list(architecture["backbone"]) + list(architecture["head"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MultiposeError(
                f"not a YOLO pose architecture ({exc!r} missing or wrong)"
            ) from None
        channels: list[int] = [int(architecture.get("ch", 3))]
        modules, self.sources = [], []
        for i, (source, repeats, kind, args) in enumerate(layers):
            sources = [source] if isinstance(source, int) else list(source)
            inputs = [channels[s] if s == -1 else channels[s + 1] for s in sources]
            repeats = max(round(repeats * depth), 1) if repeats > 1 else repeats
            module, out = self._layer(
                kind, args, inputs, repeats, width, max_channels, kpt_shape, i
            )
            modules.append(module)
            self.sources.append(sources)
            channels.append(out)
        self.model = nn.ModuleList(modules)
        self.keep = {s for sources in self.sources for s in sources if s != -1}

    def _layer(
        self,
        kind: str,
        args: list,
        inputs: list[int],
        repeats: int,
        width: float,
        max_channels: int,
        kpt_shape: tuple,
        index: int,
    ) -> tuple[nn.Module, int]:
        if kind in CONV_LIKE:
            c1, c2 = inputs[0], _channels(args[0], width, max_channels)
            rest = list(args[1:])
            if kind in REPEATED:
                rest.insert(0, repeats)
            if kind == "C3k2" and self.scale in ("m", "l", "x"):
                rest[1:2] = [True]  # the larger sizes use C3k blocks throughout
            if kind == "Conv":
                k, s = (rest + [1, 1])[:2]
                return Conv(c1, c2, k, s), c2
            return {
                "C3k2": C3k2,
                "C3k": C3k,
                "SPPF": SPPF,
                "C2PSA": C2PSA,
                "Bottleneck": Bottleneck,
            }[kind](c1, c2, *rest), c2
        if kind == "nn.Upsample":
            return Upsample(int(args[1]), str(args[2])), inputs[0]
        if kind == "Concat":
            return Concat(), sum(inputs)
        if kind == "Pose":
            return PoseHead(self.nc, kpt_shape, inputs), 0
        raise MultiposeError(f"layer {index} is a {kind}, which is not supported")

    def forward(self, image: torch.Tensor) -> list[tuple[torch.Tensor]]:
        if image.shape[2] % MAX_STRIDE or image.shape[3] % MAX_STRIDE:
            raise MultiposeError(
                f"YOLO-pose takes sides that are multiples of {MAX_STRIDE}, not "
                f"{image.shape[3]}x{image.shape[2]}"
            )
        outputs: dict[int, torch.Tensor] = {}
        x = image
        last = len(self.model) - 1
        for i, (layer, sources) in enumerate(zip(self.model, self.sources, strict=True)):
            taken = [x if s == -1 else outputs[s] for s in sources]
            if i == last:
                x = layer(taken, tuple(image.shape[2:]))
            else:
                x = layer(taken) if isinstance(layer, Concat) else layer(taken[0])
            if i in self.keep:
                outputs[i] = x
        return [(x,)]


def _channels(c: int, width: float, max_channels: int) -> int:
    """A layer's output channels at the scale's width: rounded up to a multiple of 8."""
    return math.ceil(min(c, max_channels) * width / 8) * 8


def fold_batch_norms(model: nn.Module) -> nn.Module:
    """Every Conv's batch norm merged into its convolution (inference only)."""
    for module in model.modules():
        if isinstance(module, Conv):
            module.fold()
    return model


def load_yolo_pose(path: str | Path) -> YoloPose:
    """An Ultralytics pose checkpoint read by our restricted reader (nothing of Ultralytics
    imported or run), built, filled and folded for inference, in float32, channels last."""
    from multipose.runtime.torch_pickle import (
        Record,
        module_records,
        module_tensors,
        read_checkpoint,
    )

    checkpoint = read_checkpoint(path)
    model = (
        checkpoint.get("ema") or checkpoint.get("model") if isinstance(checkpoint, dict) else None
    )
    if not isinstance(model, Record) or not isinstance(model.get("yaml"), dict):
        raise MultiposeError("not an Ultralytics checkpoint (no model with its architecture)", path)
    if model.get("kpt_shape") is None and "kpt_shape" not in model.get("yaml"):
        raise MultiposeError("not a pose model (no keypoints in its architecture)", path)
    network = YoloPose(model.get("yaml"), model.get("nc"))
    state = {name: tensor.float() for name, tensor in module_tensors(model)}
    state = {k: v for k, v in state.items() if not k.endswith(".dfl.conv.weight")}  # fixed bins
    missing, unexpected = network.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise MultiposeError(
            f"weights do not fit the architecture (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]})",
            path,
        )
    for name, record in module_records(model):
        if record.name == "BatchNorm2d" and isinstance(
            norm := network.get_submodule(name), nn.BatchNorm2d
        ):
            norm.eps = float(record.get("eps", norm.eps))
    # channels-last weights: the network ran 10-15% faster so on the CPU, 1 thread
    return fold_batch_norms(network.eval()).to(memory_format=torch.channels_last)
