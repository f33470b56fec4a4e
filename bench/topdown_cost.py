"""The cost of crowds for top-down pose estimation, next to bottom-up (one thread).

For 1 to 100 synthetic people in a 656x368 image: the top-down work per image (boxes to crop
transforms, 256x192 crops warped from the image, heatmaps encoded as in training, decoded in one
batch with DARK refinement, keypoints projected back), then the total with a network of a
stated cost per crop, against bottom-up: one network pass per image plus the PAF decode of the
same crowd. The network costs are assumptions until the model issue lands (--crop-ms and
--image-ms); the codec and geometry are measured.

    python bench/topdown_cost.py          # writes bench/results/topdown_cost.{md,png}
"""

from __future__ import annotations

import argparse

import numpy as np

from multipose.codecs.heatmap import HeatmapCodec
from multipose.codecs.paf import PafCodec
from multipose.data.synthetic import make_scene
from multipose.geometry import apply, box_regions, crop_transforms, warp_crops
from multipose.pipelines.top_down import people_from_crops

from common import RESULTS, median_ms, write_report

WIDTH, HEIGHT = 656, 368
CROWDS = (1, 2, 5, 10, 20, 50, 100)


def topdown_ms(scene, image: np.ndarray, codec: HeatmapCodec, repeats: int) -> dict[str, float]:
    poses = scene.poses
    width, height = codec.input_size
    state = {}

    def geometry_and_crops():
        regions = box_regions(poses.boxes, width / height)
        state["transforms"] = crop_transforms(*regions, codec.input_size)
        state["crops"] = warp_crops(image, state["transforms"], codec.input_size)

    def encode():
        keypoints = poses.keypoints.copy()
        keypoints[..., :2] = apply(state["transforms"], keypoints[..., :2])
        state["heatmaps"] = codec.encode_keypoints(keypoints)[0]

    def decode_and_project():
        people_from_crops(codec, [state["heatmaps"]], state["transforms"])

    return {
        "crop": median_ms(geometry_and_crops, repeats),
        "encode": median_ms(encode, repeats),
        "decode": median_ms(decode_and_project, repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--crop-ms",
        type=float,
        default=100.0,
        help="assumed network time per 256x192 crop (SimpleBaseline-R50)",
    )
    parser.add_argument(
        "--image-ms",
        type=float,
        default=1000.0,
        help="assumed network time per 656x368 image (bottom-up)",
    )
    args = parser.parse_args()
    heatmap_codec, paf_codec = HeatmapCodec(), PafCodec()
    rows = []
    for n in CROWDS:
        scene = make_scene(n, WIDTH, HEIGHT, seed=n, p_missing=0.0)
        image = scene.render()
        td = topdown_ms(scene, image, heatmap_codec, args.repeats)
        targets = paf_codec.encode(scene.poses, (WIDTH, HEIGHT))
        paf = median_ms(lambda t=targets: paf_codec.decode([t.heatmaps, t.pafs]), args.repeats)
        codec_ms = td["crop"] + td["encode"] + td["decode"]
        rows.append(
            {
                "n": n,
                **td,
                "codec": codec_ms,
                "per_person": codec_ms / n,
                "paf": paf,
                "topdown_total": codec_ms + n * args.crop_ms,
                "bottomup_total": args.image_ms + paf,
            }
        )
        r = rows[-1]
        print(
            f"{n:3d} people: crops {td['crop']:.2f} ms, encode {td['encode']:.2f}, decode+back "
            f"{td['decode']:.2f} = {codec_ms:.2f} ms ({r['per_person']:.3f} ms/person); "
            f"PAF decode {paf:.2f} ms"
        )
    _write_table(rows, args)
    _plot(rows, args)


def _write_table(rows, args) -> None:
    lines = [
        "# Top-down cost against the number of people",
        "",
        f"656x368 synthetic images, 256x192 crops, 64x48 heatmaps, DARK decoding; median of "
        f"{args.repeats} runs, one thread. Codec = crops (transforms and warps) + encode + "
        f"decode and back-projection, all people in one batch. Totals add an assumed network: "
        f"{args.crop_ms:g} ms per crop (top-down), {args.image_ms:g} ms per image (bottom-up, "
        "plus the measured PAF decode).",
        "",
        "| people | crops ms | encode ms | decode ms | codec ms | codec ms/person | "
        "PAF decode ms | top-down total ms | bottom-up total ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['crop']:.2f} | {r['encode']:.2f} | {r['decode']:.2f} | "
            f"{r['codec']:.2f} | {r['per_person']:.3f} | {r['paf']:.2f} | "
            f"{r['topdown_total']:.0f} | {r['bottomup_total']:.0f} |"
        )
    write_report("topdown_cost.md", lines)


def _plot(rows, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["n"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(n, [r["codec"] for r in rows], marker="o", label="top-down codec + crops")
    left.plot(n, [r["paf"] for r in rows], marker="o", label="bottom-up PAF decode")
    left.set(xlabel="people", ylabel="ms per image (one thread)", title="Without the network")
    right.plot(
        n,
        [r["topdown_total"] for r in rows],
        marker="o",
        label=f"top-down, {args.crop_ms:g} ms per crop",
    )
    right.plot(
        n,
        [r["bottomup_total"] for r in rows],
        marker="o",
        label=f"bottom-up, {args.image_ms:g} ms per image",
    )
    right.set(xlabel="people", ylabel="ms per image", title="With an assumed network")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "topdown_cost.png", dpi=100)


if __name__ == "__main__":
    main()
