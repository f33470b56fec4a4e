"""Reference outputs of the public models, made with their authors' own code, for
tests/test_importers_numeric.py.

For each importer: the authors' model definition is exported from a mirror of their repository
(`git archive`, into a temporary folder: never copied into ours), built as their configuration
describes it and filled with seeded random weights (`random_state`, from the key names and
shapes of the public checkpoint in tests/fixtures/*.json, checked here against the authors'
model). The weights are saved in the authors' checkpoint format, read back by their own loading
code, and the model runs on a photo (tests/fixtures/importers/photo.png: ski.jpg, cropped and
shrunk to 128x192) prepared as their demo or test script prepares it. Written per model:
tests/fixtures/importers/<name>.npz with the seed and the outputs of the last stage,
subsampled every `step` cells. The tests regenerate the same weights without the authors'
code, load them with our importer and compare.

    python scripts/make_importer_references.py [--mirrors /work/.mirror] [names...]

A mirror is a bare clone named `owner+repo/repo` under --mirrors (what the session's `fetch`
tool makes), or any bare clone given by --mirror NAME=PATH.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
OUT = FIXTURES / "importers"
PHOTO = ROOT.parent / "shared" / "data" / "photos" / "ski.jpg"
SIZE = (128, 192)  # height, width: a multiple of 64, as the hourglass needs


def random_state(
    shapes: dict[str, list[int]], seed: int, gain: float = 1.0
) -> dict[str, torch.Tensor]:
    """Seeded weights for the keys and shapes of a checkpoint, in their order: convolutions
    N(0, gain² · 2 / fan-in) (gain < 1 keeps deep networks without batch norms from growing
    their outputs to thousands), biases N(0, 0.1²), batch norms' scale U(0.5, 1.5), running mean
    N(0, 0.2²) and running variance U(0.5, 2) (so that their statistics matter), step
    counters 1000. Drawn in float32 by NumPy, so that the tests regenerate them (quickly:
    the hourglass has 139M weights) without the authors' code."""
    rng = np.random.default_rng(seed)

    def normal(std: float, shape: list[int]) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(std)

    def uniform(low: float, high: float, shape: list[int]) -> np.ndarray:
        return rng.random(shape, dtype=np.float32) * np.float32(high - low) + np.float32(low)

    state = {}
    for key, shape in shapes.items():
        last = key.rsplit(".", 1)[-1]
        if last == "num_batches_tracked":
            state[key] = torch.tensor(1000)
            continue
        if last == "running_var":
            values = uniform(0.5, 2.0, shape)
        elif last == "running_mean":
            values = normal(0.2, shape)
        elif last == "bias":
            values = normal(0.1, shape)
        elif len(shape) == 1:  # a batch norm's scale
            values = uniform(0.5, 1.5, shape)
        else:
            values = normal(gain * np.sqrt(2.0 / np.prod(shape[1:])), shape)
        state[key] = torch.from_numpy(values)
    return state


def public_shapes(fixture: str) -> dict[str, list[int]]:
    return json.loads((FIXTURES / fixture).read_text())


def make_photo() -> np.ndarray:
    """ski.jpg (674x712), rows 100..574 (the skiers), shrunk to 128x192: RGB uint8."""
    image = cv2.imread(str(PHOTO))[100:574, :, ::-1]
    return cv2.resize(image, SIZE[::-1], interpolation=cv2.INTER_AREA)


@contextlib.contextmanager
def exported(git_dir: Path, paths: list[str], ref: str = "HEAD") -> Iterator[Path]:
    """`paths` of the mirror's `ref` in a temporary folder, importable while inside."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "--git-dir", str(git_dir), "archive", ref, *paths],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        sys.path.insert(0, tmp)
        try:
            yield Path(tmp)
        finally:
            sys.path.remove(tmp)
            for name, module in list(sys.modules.items()):
                if str(getattr(module, "__file__", "") or "").startswith(tmp):
                    del sys.modules[name]


class Config(dict):
    """yacs/easydict stand-in: a dict whose keys read as attributes too."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def of(cls, value):
        if isinstance(value, dict):
            return cls({k: cls.of(v) for k, v in value.items()})
        return value


def yaml_config(git_dir: Path, path: str, **defaults: dict) -> Config:
    import yaml

    text = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"HEAD:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    config = yaml.safe_load(text)
    for section, values in defaults.items():
        config[section] = {**values, **config.get(section, {})}
    return Config.of(config)


@dataclass
class Reference:
    """How one public model is rebuilt: our spec that imports it, its mirror, the public key
    list (fixture), the seed and gain of its weights, the subsampling step of the saved
    outputs, `run(mirror, state, photo, tmp)`: the authors' model filled from `state` through
    their file format, run on the photo (it returns the last stage's outputs by name), and
    the part of the photo it sees."""

    model: str
    repo: str
    fixture: str
    seed: int
    step: int
    gain: float
    run: Callable[[Path, dict[str, torch.Tensor], np.ndarray, Path], dict[str, torch.Tensor]]
    crop: tuple[int, int, int, int] = (0, 0, *SIZE)  # top, left, height, width of the photo


def same_keys(
    model: torch.nn.Module,
    state: dict[str, torch.Tensor],
    public: Callable[[str], str] = lambda key: key,
) -> None:
    """Check that the public key list is the authors' model's (its keys named by `public` as
    the published file names them)."""
    theirs = {public(k): list(v.shape) for k, v in model.state_dict().items()}
    assert theirs == {k: list(v.shape) for k, v in state.items()}, "keys do not fit the model"


def openpose_bgr(photo: np.ndarray) -> torch.Tensor:
    """pytorch-openpose's body.py and lightweight's demo.py: BGR, (pixel - 128) / 256."""
    bgr = photo[..., ::-1].astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray((bgr / 256 - 0.5).transpose(2, 0, 1)))[None]


def imagenet_rgb(photo: np.ndarray) -> torch.Tensor:
    """The HRNet repositories' transforms: ToTensor, then Normalize with ImageNet's mean/std."""
    x = torch.from_numpy(np.ascontiguousarray(photo.transpose(2, 0, 1))).float() / 255
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    return ((x - mean) / std)[None]


def run_pytorch_openpose(mirror, state, photo, tmp):
    with exported(mirror, ["src/__init__.py", "src/model.py", "src/util.py"]):
        from src import util
        from src.model import bodypose_model

        model = bodypose_model()
        same_keys(model, state, lambda key: key.split(".", 1)[1])
        torch.save(state, tmp / "body_pose_model.pth")  # flat Caffe names, as published
        model.load_state_dict(util.transfer(model, torch.load(tmp / "body_pose_model.pth")))
        model.eval()
        with torch.no_grad():
            pafs, heatmaps = model(openpose_bgr(photo))
    return {"heatmaps": heatmaps, "pafs": pafs}


def run_lightweight(mirror, state, photo, tmp):
    with exported(
        mirror, ["models", "modules/__init__.py", "modules/conv.py", "modules/load_state.py"]
    ):
        from models.with_mobilenet import PoseEstimationWithMobileNet
        from modules.load_state import load_state

        model = PoseEstimationWithMobileNet()
        same_keys(model, state)
        # As its train.py saves a snapshot (optimizer and schedule as it makes them).
        optimizer = torch.optim.Adam(model.parameters(), lr=4e-5, weight_decay=5e-4)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [100, 200, 260], 0.333)
        checkpoint = {
            "state_dict": state,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "iter": 370000,
            "current_epoch": 10,
        }
        torch.save(checkpoint, tmp / "checkpoint_iter_370000.pth")
        load_state(model, torch.load(tmp / "checkpoint_iter_370000.pth", map_location="cpu"))
        model.eval()
        with torch.no_grad():
            heatmaps, pafs = model(openpose_bgr(photo))[-2:]
    return {"heatmaps": heatmaps, "pafs": pafs}


def run_pose_ae(mirror, state, photo, tmp):
    with exported(mirror, ["models", "task/loss.py", "utils/misc.py"]) as folder:
        # The compiled AE loss is for training only: a stand-in module.
        (folder / "extensions" / "AE").mkdir(parents=True)
        (folder / "extensions" / "AE" / "AE_loss.py").write_text(
            "from torch import nn\nclass AEloss(nn.Module):\n    pass\n"
        )
        from models.posenet import PoseNet

        # task/pose.py's __config__['inference'], wrapped as its make_network wraps it.
        net = PoseNet(nstack=4, inp_dim=256, oup_dim=68, increase=128)
        wrapper = torch.nn.Module()
        wrapper.model = torch.nn.DataParallel(net)
        same_keys(wrapper, state)
        optimizer = torch.optim.Adam(net.parameters(), lr=2e-4)
        checkpoint = {"state_dict": state, "optimizer": optimizer.state_dict(), "epoch": 100}
        torch.save(checkpoint, tmp / "checkpoint.pth.tar")  # as train.py's save_checkpoint
        wrapper.load_state_dict(torch.load(tmp / "checkpoint.pth.tar")["state_dict"])
        net.eval()
        # test.py: RGB (cv2.imread(...)[:, :, ::-1]) / 255, NHWC into the network.
        with torch.no_grad():
            preds = net(torch.from_numpy(photo.astype(np.float32) / 255)[None])
    last = preds[:, -1]
    return {"heatmaps": last[:, :17], "tags": last[:, 17:34]}


def run_hrnet(mirror, state, photo, tmp):
    with exported(mirror, ["lib/models/pose_hrnet.py"]):
        from lib.models.pose_hrnet import get_pose_net

        config = yaml_config(mirror, "experiments/coco/hrnet/w32_256x192_adam_lr1e-3.yaml")
        model = get_pose_net(config, is_train=False)
        same_keys(model, state)
        torch.save(state, tmp / "pose_hrnet_w32_256x192.pth")
        model.load_state_dict(torch.load(tmp / "pose_hrnet_w32_256x192.pth"))  # as test.py
        model.eval()
        with torch.no_grad():
            heatmaps = model(imagenet_rgb(photo))
    return {"heatmaps": heatmaps}


def run_higherhrnet(mirror, state, photo, tmp):
    with exported(mirror, ["lib/models/pose_higher_hrnet.py"]):
        from lib.models.pose_higher_hrnet import get_pose_net

        # lib/config/default.py's defaults that the experiment file leaves as they are.
        config = yaml_config(
            mirror,
            "experiments/coco/higher_hrnet/w32_512_adam_lr1e-3.yaml",
            MODEL={"TAG_PER_JOINT": True, "SYNC_BN": False},
        )
        config["VERBOSE"] = True
        model = get_pose_net(config, is_train=False)
        same_keys(model, state)
        torch.save(state, tmp / "pose_higher_hrnet_w32_512.pth")
        model.load_state_dict(torch.load(tmp / "pose_higher_hrnet_w32_512.pth"), strict=True)
        model.eval()
        with torch.no_grad():
            low, high = model(imagenet_rgb(photo))
    return {"heatmaps": low[:, :17], "tags": low[:, 17:], "heatmaps_stride2": high}


def run_simplebaseline(mirror, state, photo, tmp):
    with exported(mirror, ["lib/models/pose_resnet.py"]):
        from lib.models.pose_resnet import get_pose_net

        config = yaml_config(
            mirror,
            "experiments/coco/resnet50/256x192_d256x3_adam_lr1e-3.yaml",
            MODEL={"STYLE": "pytorch"},
        )
        model = get_pose_net(config, is_train=False)
        same_keys(model, state)
        torch.save(state, tmp / "pose_resnet_50_256x192.pth.tar")
        model.load_state_dict(torch.load(tmp / "pose_resnet_50_256x192.pth.tar"))
        model.eval()
        with torch.no_grad():
            heatmaps = model(imagenet_rgb(photo))
    return {"heatmaps": heatmaps}


# mmpose 0.x (branch 0.x of open-mmlab/mmpose): its backbone and head modules as they are, their
# package's registries, losses and evaluation (which inference does not use) stubbed, and
# mmcv 1.x (the lite build, `pip install mmcv==1.7.2`, run with that environment's Python)
# for its layers and checkpoint functions.
MMPOSE_FILES = [
    "mmpose/models/backbones/hrnet.py",
    "mmpose/models/backbones/resnet.py",
    "mmpose/models/backbones/base_backbone.py",
    "mmpose/models/backbones/utils",
    "mmpose/models/heads/topdown_heatmap_simple_head.py",
    "mmpose/models/heads/topdown_heatmap_base_head.py",
    "mmpose/models/heads/ae_higher_resolution_head.py",
    "mmpose/models/utils/ops.py",
    "configs/_base_",
    "configs/body/2d_kpt_sview_rgb_img",
]
MMPOSE_STUBS = {
    "mmpose/__init__.py": "",
    "mmpose/utils/__init__.py": "import logging\n\n"
    "def get_root_logger(*args, **kwargs):\n    return logging.getLogger('mmpose')\n",
    "mmpose/models/__init__.py": "",
    "mmpose/models/builder.py": "class _Registry:\n"
    "    def register_module(self, *args, **kwargs):\n        return lambda cls: cls\n\n"
    "BACKBONES = HEADS = LOSSES = _Registry()\n\n"
    "def build_loss(cfg):\n    return None\n",
    "mmpose/models/backbones/__init__.py": "",
    "mmpose/models/heads/__init__.py": "",
    "mmpose/models/utils/__init__.py": "",
    "mmpose/core/__init__.py": "",
    "mmpose/core/evaluation/__init__.py": "pose_pck_accuracy = None\n",
    "mmpose/core/evaluation/top_down_eval.py": "keypoints_from_heatmaps = None\n",
    "mmpose/core/post_processing/__init__.py": "flip_back = None\n",
    # mmcv.runner.checkpoint imports torchvision for its model zoo addresses only.
    "torchvision/__init__.py": "__version__ = '0.0.0'\n",
    "torchvision/models/__init__.py": "",
}


def run_mmpose(config: str, head: str, spec: str):
    """The runner of an mmpose 0.x model: `config` under configs/body/2d_kpt_sview_rgb_img/,
    `head` its head's module and class ("module:Class")."""

    def run(mirror, state, photo, tmp):
        from multipose.specs import MMPOSE_HEADS

        with exported(mirror, MMPOSE_FILES, ref="0.x") as folder:
            for path, text in MMPOSE_STUBS.items():
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                (folder / path).write_text(text)
            from importlib import import_module

            from mmcv import Config
            from mmcv.runner import load_checkpoint, save_checkpoint
            from mmpose.models.backbones.hrnet import HRNet
            from mmpose.models.backbones.resnet import ResNet

            config_file = Config.fromfile(folder / "configs/body/2d_kpt_sview_rgb_img" / config)
            cfg = config_file.model
            module, name = head.split(":")
            head_class = getattr(import_module(f"mmpose.models.heads.{module}"), name)
            backbone_class = {"HRNet": HRNet, "ResNet": ResNet}[cfg.backbone.type]
            model = torch.nn.Module()
            model.backbone = backbone_class(
                **{k: v for k, v in cfg.backbone.items() if k != "type"}
            )
            model.keypoint_head = head_class(
                **{k: v for k, v in cfg.keypoint_head.items() if k != "type"}
            )
            same_keys(model, state, lambda key: key.split(".", 1)[1])
            ours_head = set(MMPOSE_HEADS[spec])
            for key in model.state_dict():
                scope, top = key.split(".")[:2]
                assert (scope == "keypoint_head") == (top in ours_head), key
            model.load_state_dict({k: state[k.split(".", 1)[1]] for k in model.state_dict()})
            save_checkpoint(
                model, str(tmp / "mmpose.pth"), meta={"config": config_file.pretty_text}
            )
            model.load_state_dict({k: torch.zeros_like(v) for k, v in model.state_dict().items()})
            load_checkpoint(model, str(tmp / "mmpose.pth"), map_location="cpu", strict=True)
            model.eval()
            with torch.no_grad():
                outputs = model.keypoint_head(model.backbone(imagenet_rgb(photo)))
        if isinstance(outputs, torch.Tensor):
            return {"heatmaps": outputs}
        low, high = outputs
        return {"heatmaps": low[:, :17], "tags": low[:, 17:], "heatmaps_stride2": high}

    return run


REFERENCES = {
    "openpose-vgg19": Reference(
        "openpose-vgg19", "Hzzone+pytorch-openpose", "pytorch_openpose_body.json",
        seed=1, gain=1.0, step=2, run=run_pytorch_openpose,
    ),
    "lightweight-openpose": Reference(
        "lightweight-openpose", "Daniil-Osokin+lightweight-human-pose-estimation.pytorch",
        "lightweight_openpose.json",
        seed=2, gain=0.8, step=2, run=run_lightweight,
    ),
    "hourglass-ae": Reference(
        "hourglass-ae", "princeton-vl+pose-ae-train", "pose_ae_train.json",
        seed=3, gain=0.7, step=2, run=run_pose_ae,
        crop=(32, 32, 64, 128),  # a quarter of the photo: the full one takes 20 s here
    ),
    "hrnet-w32": Reference(
        "hrnet-w32", "leoxiaobin+deep-high-resolution-net.pytorch", "hrnet_w32.json",
        seed=4, gain=0.4, step=2, run=run_hrnet,
    ),
    "higherhrnet-w32": Reference(
        "higherhrnet-w32", "HRNet+HigherHRNet-Human-Pose-Estimation", "higherhrnet_w32.json",
        seed=5, gain=0.4, step=4, run=run_higherhrnet,
    ),
    "simplebaseline-r50": Reference(
        "simplebaseline-r50", "microsoft+human-pose-estimation.pytorch", "simplebaseline_r50.json",
        seed=6, gain=0.7, step=2, run=run_simplebaseline,
    ),
    "mmpose-hrnet-w32": Reference(
        "hrnet-w32", "open-mmlab+mmpose", "hrnet_w32.json",
        seed=7, gain=0.4, step=2,
        run=run_mmpose(
            "topdown_heatmap/coco/hrnet_w32_coco_256x192.py",
            "topdown_heatmap_simple_head:TopdownHeatmapSimpleHead", "hrnet-w32",
        ),
    ),
    "mmpose-simplebaseline-r50": Reference(
        "simplebaseline-r50", "open-mmlab+mmpose", "simplebaseline_r50.json",
        seed=8, gain=0.7, step=2,
        run=run_mmpose(
            "topdown_heatmap/coco/res50_coco_256x192.py",
            "topdown_heatmap_simple_head:TopdownHeatmapSimpleHead", "simplebaseline-r50",
        ),
    ),
    "mmpose-higherhrnet-w32": Reference(
        "higherhrnet-w32", "open-mmlab+mmpose", "higherhrnet_w32.json",
        seed=9, gain=0.4, step=4,
        run=run_mmpose(
            "associative_embedding/coco/higherhrnet_w32_coco_512x512.py",
            "ae_higher_resolution_head:AEHigherResolutionHead", "higherhrnet-w32",
        ),
    ),
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", default=list(REFERENCES))
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    photo = make_photo()
    cv2.imwrite(str(OUT / "photo.png"), photo[..., ::-1])
    photo = cv2.imread(str(OUT / "photo.png"))[..., ::-1]  # exactly what the tests read
    for name in args.names:
        reference = REFERENCES[name]
        state = random_state(public_shapes(reference.fixture), reference.seed, reference.gain)
        top, left, height, width = reference.crop
        seen = np.ascontiguousarray(photo[top : top + height, left : left + width])
        with tempfile.TemporaryDirectory() as tmp:
            outputs = reference.run(args.mirrors / reference.repo / "repo", state, seen, Path(tmp))
        s = reference.step
        saved = {k: v[..., ::s, ::s].numpy() for k, v in outputs.items()}
        np.savez_compressed(
            OUT / f"{name}.npz",
            seed=reference.seed,
            gain=reference.gain,
            step=s,
            crop=reference.crop,
            **saved,
        )
        shapes = {k: tuple(v.shape) for k, v in outputs.items()}
        ranges = {k: f"{v.abs().max().item():.3g}" for k, v in outputs.items()}
        print(f"{name}: outputs {shapes}, max |value| {ranges}")


if __name__ == "__main__":
    main()
