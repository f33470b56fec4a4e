"""The oracle: encode a dataset's ground truth as a model's network outputs (with the model
spec's codec and input size), optionally spoil them with noise, decode them, and score the
result with COCO AP. It measures what a codec itself loses, whatever network comes to feed
it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from multipose.codecs.associative import AssociativeCodec
from multipose.codecs.heatmap import HeatmapCodec
from multipose.codecs.paf import NUM_PARTS, PafCodec
from multipose.errors import MultiposeError
from multipose.evaluate import evaluate
from multipose.geometry import apply, box_regions, check_boxes, crop_transforms
from multipose.io.coco import CocoDataset
from multipose.pipelines.top_down import people_from_crops
from multipose.poses import Poses
from multipose.specs import ModelSpec, get_spec


@dataclass(frozen=True)
class Noise:
    """How to spoil ideal maps.

    jitter: std of the keypoint displacement before encoding, in map cells.
    peak_min: peak heights drawn uniformly from [peak_min, 1] per person and part.
    heatmap: std of additive Gaussian noise on the heatmaps.
    field: std of additive Gaussian noise on the method's other maps (the PAFs of openpose,
    the tags of ae; top-down has none).
    """

    jitter: float = 0.0
    peak_min: float = 1.0
    heatmap: float = 0.0
    field: float = 0.0

    def jittered(self, poses: Poses, stride: float, rng: np.random.Generator) -> Poses:
        if not self.jitter:
            return poses
        kp = poses.keypoints.copy()
        kp[..., :2] = self.moved(kp[..., :2], stride, rng)
        return Poses(kp, poses.scores, poses.layout, poses.boxes)

    def moved(self, xy: np.ndarray, stride: float, rng: np.random.Generator) -> np.ndarray:
        """Points displaced by the jitter (given in cells of a map of that stride)."""
        if not self.jitter:
            return xy
        return xy + rng.normal(0, self.jitter * stride, xy.shape).astype(np.float32)

    def peak_heights(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray | None:
        return None if self.peak_min >= 1 else rng.uniform(self.peak_min, 1.0, shape)

    @staticmethod
    def added(maps: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
        if not std:
            return maps
        return maps + rng.normal(0, std, maps.shape).astype(np.float32)


def openpose_round_trip(
    people: Poses,
    image_size: tuple[int, int],
    noise: Noise,
    rng: np.random.Generator,
    codec: PafCodec,
    input_height: int = 368,
) -> Poses:
    """Ground-truth people of an image of (width, height) through the PAF codec at OpenPose's
    input size (the image scaled to `input_height`), back in image pixels, in COCO-17."""
    width, height = image_size
    scale = input_height / height
    input_size = (max(1, round(width * scale)), input_height)
    people = noise.jittered(people.resized(scale), codec.stride, rng)
    heights = noise.peak_heights((len(people), NUM_PARTS), rng)
    targets = codec.encode(people, input_size, peak_heights=heights)
    heatmaps = noise.added(targets.heatmaps[:NUM_PARTS], noise.heatmap, rng)
    pafs = noise.added(targets.pafs, noise.field, rng)
    return codec.decode([heatmaps, pafs]).convert("coco17").resized(1 / scale)


def topdown_round_trip(
    people: Poses,
    image_size: tuple[int, int],
    noise: Noise,
    rng: np.random.Generator,
    codec: HeatmapCodec,
    input_height: int | None = None,
    padding: float = 1.25,
) -> Poses:
    """Ground-truth people through the top-down path: each person's box (grown to hold its
    labelled keypoints, which COCO boxes sometimes cut off) padded to the crop's aspect,
    keypoints into the crop, heatmaps encoded and decoded, back through the inverse crop
    transform; people without a usable box are left out."""
    boxes = people.keypoint_boxes()
    if people.boxes is not None:
        boxes = np.concatenate(
            [
                np.minimum(boxes[:, :2], people.boxes[:, :2]),
                np.maximum(boxes[:, 2:], people.boxes[:, 2:]),
            ],
            axis=1,
        )
    _, problems = check_boxes(boxes, image_size)
    usable = np.array([p is None for p in problems], bool)
    people, boxes = people[usable], boxes[usable]
    width, height = codec.input_size
    transforms = crop_transforms(*box_regions(boxes, width / height, padding), codec.input_size)
    keypoints = people.keypoints.copy()
    keypoints[..., :2] = noise.moved(apply(transforms, keypoints[..., :2]), codec.stride, rng)
    heatmaps, _ = codec.encode_keypoints(keypoints, noise.peak_heights(keypoints.shape[:2], rng))
    heatmaps = noise.added(heatmaps, noise.heatmap, rng)
    return people_from_crops(codec, [heatmaps], transforms, boxes=boxes)


def oracle_tags(count: int, rng: np.random.Generator) -> np.ndarray:
    """One tag per person for ideal tag maps: 1, 3, 5, ... in a random order, so that any two
    people are 2 apart, twice the decoder's tag threshold."""
    return 1.0 + 2.0 * rng.permutation(count).astype(np.float32)


def ae_round_trip(
    people: Poses,
    image_size: tuple[int, int],
    noise: Noise,
    rng: np.random.Generator,
    codec: AssociativeCodec,
    input_short_side: int = 512,
) -> Poses:
    """Ground-truth people through the Associative Embedding codec at HigherHRNet's input size
    (the shorter side scaled to `input_short_side`): heatmaps and ideal tag maps, spoilt by
    `noise` (its field noise goes on the tags), decoded, back in image pixels."""
    width, height = image_size
    scale = input_short_side / min(width, height)
    input_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    people = noise.jittered(people.resized(scale).convert("coco17"), codec.strides[0], rng)
    heights = noise.peak_heights((len(people), 17), rng)
    targets = codec.encode(people, input_size, peak_heights=heights)
    tags = codec.render_tags(people, input_size, oracle_tags(len(people), rng))
    heatmaps = noise.added(targets.heatmaps[0], noise.heatmap, rng)
    return codec.decode([heatmaps, noise.added(tags, noise.field, rng)]).resized(1 / scale)


RoundTrip = Callable[..., Poses]
# The round trip of each codec, called with the codec and the spec's input height.
ROUND_TRIPS: dict[type, RoundTrip] = {
    PafCodec: openpose_round_trip,
    HeatmapCodec: topdown_round_trip,
    AssociativeCodec: ae_round_trip,
}
# `multipose oracle --method`: a model of each method, whose codec and input size are used.
METHODS = {"openpose": "openpose-vgg19", "ae": "hourglass-ae", "topdown": "simplebaseline-r50"}


def run_oracle(
    dataset: CocoDataset,
    model: str | ModelSpec = "openpose-vgg19",
    noise: Noise | None = None,
    seed: int = 0,
    max_detections: int = 20,
) -> tuple[dict[str, float], list[dict]]:
    """COCO metrics of the decoded ground truth of every image of `dataset` through the codec
    of `model` (a spec, its name, or a method name of `METHODS`), and the results."""
    spec = get_spec(METHODS.get(model, model) if isinstance(model, str) else model)
    codec = spec.codec()
    if type(codec) not in ROUND_TRIPS:
        raise MultiposeError(f"{spec.name}'s codec has no oracle")
    round_trip = ROUND_TRIPS[type(codec)]
    noise = noise or Noise()
    rng = np.random.default_rng(seed)
    results: list[dict] = []
    for image_id, record in dataset.images.items():
        people = dataset.people(image_id)
        size = (record.width, record.height)
        decoded = round_trip(people, size, noise, rng, codec, spec.input.height)
        results.extend(decoded.convert(dataset.layout).to_coco(image_id, dataset.category_id))
    return evaluate(dataset, results, max_detections=max_detections), results
