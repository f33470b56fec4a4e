"""Size and CPU speed of every network at its standard input size: parameters, GFLOPs (one
image, a multiply-add counted as 2 FLOPs), and the median forward time on 2 threads in PyTorch
and in onnxruntime (our ONNX export), side by side. Random weights: speed does not depend on
them.

    python bench/models.py               # writes bench/results/models.md
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from multipose.runtime.onnx import export_onnx
from multipose.specs import SPECS

from common import median_ms, write_report

SIZES = {  # (width, height) at which each network is usually run
    "openpose-mobilenet-v2": (432, 368),
    "openpose-vgg19": (656, 368),
    "lightweight-openpose": (456, 256),
    "hourglass-ae": (512, 512),
    "higherhrnet-w32": (512, 512),
    "hrnet-w32": (192, 256),
    "simplebaseline-r50": (192, 256),
}


def main() -> None:
    import onnxruntime

    torch.set_num_threads(2)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    lines = [
        "# Networks: size and CPU forward time",
        "",
        "One image at the standard input size, median of 5 runs, 2 threads, random weights.",
        "",
        "| network | input (w x h) | parameters (M) | GFLOPs | PyTorch ms | onnxruntime ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, spec in SPECS.items():
        width, height = SIZES[name]
        network = spec.build().eval()
        x = torch.rand(1, 3, height, width) * 255
        with torch.inference_mode():
            counter = FlopCounterMode(display=False)
            with counter:
                network(x)
            torch_ms = median_ms(lambda n=network, x=x: n(x), 5)
        with tempfile.TemporaryDirectory() as folder:
            path = export_onnx(spec, network, Path(folder) / "model.onnx", (width, height))
            session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
            feed = {"image": x.numpy()}
            onnx_ms = median_ms(lambda s=session, f=feed: s.run(None, f), 5)
        params = sum(p.numel() for p in network.parameters()) / 1e6
        row = (
            f"| {name} | {width} x {height} | {params:.1f} | "
            f"{counter.get_total_flops() / 1e9:.1f} | {torch_ms:.0f} | {onnx_ms:.0f} |"
        )
        print(row)
        lines.append(row)
    write_report("models.md", lines)


if __name__ == "__main__":
    main()
