"""Benchmark of the OpenPose PAF codec on synthetic crowds (one thread).

For 1, 5, 20, 50 and 100 people in 656x368 inputs (stride 8, 82x46 maps), ideal and noisy maps
(keypoints jittered 0.2 cell, peak heights uniform in [0.6, 1], Gaussian noise 0.03 on the
heatmaps and 0.05 on the PAFs): the median decode time, the oracle AP (COCO OKS, no cap on
detections) and the people found per true person. Two kinds of scenes: every keypoint labelled,
and 5% of keypoints left unlabelled at random (a missing shoulder leaves COCO-18 without its
neck, which splits the person). The bound is the AP of the (jittered) ground truth itself.
Also the encode time of 20 people at 368x368.

    python bench/decode_paf.py            # writes bench/results/decode_paf.{md,png}
"""

from __future__ import annotations

import argparse

from multipose.codecs.paf import NUM_PARTS, PafCodec
from multipose.data.synthetic import make_scene
from multipose.oracle import Noise

from common import RESULTS, crowd_oracle, median_ms, plot_crowds, write_report

SIZE = (656, 368)
CROWDS = (1, 5, 20, 50, 100)
NOISY = Noise(jitter=0.2, peak_min=0.6, heatmap=0.03, field=0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10, help="scenes per crowd size")
    parser.add_argument("--repeats", type=int, default=5, help="timed decodes per scene")
    args = parser.parse_args()
    codec = PafCodec()

    def simulate(people, noise, rng):
        people = noise.jittered(people, codec.stride, rng)
        heights = noise.peak_heights((len(people), NUM_PARTS), rng)
        targets = codec.encode(people, SIZE, peak_heights=heights)
        heatmaps = noise.added(targets.heatmaps[:NUM_PARTS], noise.heatmap, rng)
        return people, (heatmaps, noise.added(targets.pafs, noise.field, rng))

    def decode(maps):
        return codec.decode(maps).convert("coco17")

    curves = {}
    for p_missing in (0.0, 0.05):
        for name, noise in (("ideal", Noise()), ("noisy", NOISY)):
            label = f"{name}, {p_missing:.0%} unlabelled"
            curves[label] = []
            for n in CROWDS:
                m = crowd_oracle(
                    simulate, decode, n, SIZE, noise, args.images, args.repeats, p_missing
                )
                curves[label].append((n, m))
                print(
                    f"{label}, {n} people: {m['ms']:.2f} ms, AP {m['ap']:.3f} "
                    f"(bound {m['bound']:.3f}), found {m['ratio']:.2f}"
                )
    scene = make_scene(20, 368, 368, seed=1)
    encode_ms = median_ms(lambda: codec.encode(scene.poses, (368, 368)), 50)
    print(f"encode, 20 people at 368x368: {encode_ms:.2f} ms")

    lines = [
        "# PAF codec: decode time and oracle AP against crowd size",
        "",
        f"656x368 input, stride 8 (82x46 maps), {args.images} synthetic scenes per size, median "
        f"of {args.repeats} decodes per scene, one thread. Noisy: jitter 0.2 cell, peak heights "
        "U(0.6, 1), noise 0.03 on heatmaps and 0.05 on PAFs. AP: COCO OKS with no cap on "
        "detections per image. Bound: AP of the jittered ground truth itself, the most any "
        "decoder can reach on those maps. Found: people decoded / true people.",
        "",
        "| scenes | maps | people | decode ms | oracle AP | bound | found |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, points in curves.items():
        name, unlabelled = label.split(", ")
        for n, m in points:
            lines.append(
                f"| {unlabelled} | {name} | {n} | {m['ms']:.2f} | {m['ap']:.3f} | "
                f"{m['bound']:.3f} | {m['ratio']:.2f} |"
            )
    lines += ["", f"Encode of 20 people at 368x368: {encode_ms:.2f} ms.", ""]
    write_report("decode_paf.md", lines)
    plot_crowds(curves, "PAF decode", RESULTS / "decode_paf.png")


if __name__ == "__main__":
    main()
