"""Benchmark of the Associative Embedding codec on synthetic crowds (one thread).

For 1, 5, 20, 50 and 100 people in 512x512 inputs (stride 4, 128x128 maps), ideal and noisy
maps (keypoints jittered 0.2 cell, peak heights uniform in [0.6, 1], Gaussian noise 0.03 on the
heatmaps and 0.15 on the tags; ideal tag maps give person n the tag 1 + 2 pi(n) around its
joints): the median decode time, the oracle AP (COCO OKS, no cap on detections), its bound (the
AP of the jittered ground truth itself) and the people found per true person. Also the encode
time of 20 people at 512x512 at both HigherHRNet strides (4 and 2).

    python bench/decode_ae.py             # writes bench/results/decode_ae.{md,png}
"""

from __future__ import annotations

import argparse

from multipose.codecs.associative import AssociativeCodec
from multipose.data.synthetic import make_scene
from multipose.oracle import Noise, oracle_tags

from common import RESULTS, crowd_oracle, median_ms, plot_crowds, write_report

SIZE = (512, 512)
CROWDS = (1, 5, 20, 50, 100)
NOISY = Noise(jitter=0.2, peak_min=0.6, heatmap=0.03, field=0.15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10, help="scenes per crowd size")
    parser.add_argument("--repeats", type=int, default=5, help="timed decodes per scene")
    args = parser.parse_args()
    codec = AssociativeCodec()

    def simulate(people, noise, rng):
        people = noise.jittered(people, codec.strides[0], rng)
        heights = noise.peak_heights((len(people), 17), rng)
        heatmaps = codec.encode(people, SIZE, peak_heights=heights).heatmaps[0]
        tags = codec.render_tags(people, SIZE, oracle_tags(len(people), rng))
        return people, (
            noise.added(heatmaps, noise.heatmap, rng),
            noise.added(tags, noise.field, rng),
        )

    curves = {}
    for name, noise in (("ideal", Noise()), ("noisy", NOISY)):
        curves[name] = []
        for n in CROWDS:
            m = crowd_oracle(simulate, codec.decode, n, SIZE, noise, args.images, args.repeats)
            curves[name].append((n, m))
            print(
                f"{name}, {n} people: {m['ms']:.2f} ms, AP {m['ap']:.3f} "
                f"(bound {m['bound']:.3f}), found {m['ratio']:.2f}"
            )
    both = AssociativeCodec(strides=(4, 2))
    scene = make_scene(20, *SIZE, seed=1)
    encode_ms = median_ms(lambda: both.encode(scene.poses, SIZE), 50)
    print(f"encode, 20 people at 512x512, strides 4 and 2: {encode_ms:.2f} ms")

    lines = [
        "# Associative Embedding codec: decode time and oracle AP against crowd size",
        "",
        f"512x512 input, stride 4 (128x128 maps), {args.images} synthetic scenes per size, median "
        f"of {args.repeats} decodes per scene, one thread. Noisy: jitter 0.2 cell, peak heights "
        "U(0.6, 1), noise 0.03 on heatmaps and 0.15 on tags. AP: COCO OKS with no cap on "
        "detections per image. Bound: AP of the jittered ground truth itself. Found: people "
        "decoded / true people.",
        "",
        "| maps | people | decode ms | oracle AP | bound | found |",
        "|---|---|---|---|---|---|",
    ]
    for name, points in curves.items():
        for n, m in points:
            lines.append(
                f"| {name} | {n} | {m['ms']:.2f} | {m['ap']:.3f} | {m['bound']:.3f} | "
                f"{m['ratio']:.2f} |"
            )
    lines += ["", f"Encode of 20 people at 512x512, strides 4 and 2: {encode_ms:.2f} ms.", ""]
    write_report("decode_ae.md", lines)
    plot_crowds(curves, "AE decode", RESULTS / "decode_ae.png")


if __name__ == "__main__":
    main()
