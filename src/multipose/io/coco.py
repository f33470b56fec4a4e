"""COCO keypoint datasets (images, people, crowd regions) and COCO results files."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from multipose.errors import MultiposeError
from multipose.io.jsonfile import read_json, write_json
from multipose.io.media import read_image
from multipose.poses import Poses
from multipose.skeleton import Layout, layout_for_count
from multipose.values import integer_problem, number_problem, numbers_problem, shown


@dataclass(frozen=True)
class ImageRecord:
    """One image of a dataset."""

    id: int
    file_name: str
    width: int
    height: int
    path: Path


class CocoDataset:
    """A COCO-format person keypoint dataset: an annotation file and its image folder.

    The images are looked for beside the annotation file, then in an `images/` folder there,
    unless `image_dir` is given."""

    def __init__(
        self,
        annotation_file: str | Path,
        image_dir: str | Path | None = None,
        data: dict | None = None,
    ) -> None:
        """Read `annotation_file`, or take its already parsed `data` (which it then need not
        exist; errors still name it)."""
        self.path = Path(annotation_file)
        self.data = data = read_json(self.path) if data is None else data
        if not isinstance(data, dict) or not all(
            k in data for k in ("images", "annotations", "categories")
        ):
            raise MultiposeError(
                "not a COCO annotation file (needs 'images', 'annotations' and 'categories')",
                self.path,
            )
        for key in ("images", "annotations", "categories"):
            if not isinstance(data[key], list) or not all(isinstance(x, dict) for x in data[key]):
                raise MultiposeError(f"{key!r} is not a list of objects", self.path)
        self.category_id, self.keypoint_names = self._person_category(data["categories"])
        self.layout: Layout = self._layout(len(self.keypoint_names))
        self.image_dir = self._find_image_dir(data["images"], image_dir)
        self.images: dict[int, ImageRecord] = {}
        for img in data["images"]:
            try:
                self.images[int(img["id"])] = ImageRecord(
                    int(img["id"]),
                    str(img["file_name"]),
                    int(img["width"]),
                    int(img["height"]),
                    self.image_dir / str(img["file_name"]),
                )
            except (KeyError, TypeError, ValueError):
                raise MultiposeError(
                    f"image record {img!r:.80} lacks an id, file_name, width or height", self.path
                ) from None
        self._by_file = {rec.file_name: rec for rec in self.images.values()}
        self._annotations: dict[int, list[dict]] = defaultdict(list)
        k = len(self.keypoint_names)
        for ann in data["annotations"]:
            if ann.get("category_id") != self.category_id:
                continue
            problem = _annotation_problem(ann, k, self.images)
            if problem:
                raise MultiposeError(f"annotation {shown(ann.get('id'))}: {problem}", self.path)
            self._annotations[ann["image_id"]].append(ann)

    def _person_category(self, categories: list[dict]) -> tuple[int, list[str]]:
        for cat in categories:
            if cat.get("keypoints"):
                names = cat["keypoints"]
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    raise MultiposeError(
                        f"category {shown(cat.get('id'))}: 'keypoints' is not a list of names",
                        self.path,
                    )
                problem = integer_problem(cat.get("id"))
                if problem:
                    raise MultiposeError(
                        f"category {shown(cat.get('name'))}: 'id' {problem}", self.path
                    )
                return int(cat["id"]), list(names)
        raise MultiposeError("no category with keypoints (not a keypoint dataset)", self.path)

    def _layout(self, num_keypoints: int) -> Layout:
        try:
            return layout_for_count(num_keypoints)
        except MultiposeError as exc:
            raise MultiposeError(str(exc), self.path) from None

    def _find_image_dir(self, images: list[dict], image_dir: str | Path | None) -> Path:
        if image_dir is not None:
            return Path(image_dir)
        here = self.path.parent
        first = images[0].get("file_name", "") if images else ""
        for candidate in (here, here / "images"):
            if first and (candidate / first).is_file():
                return candidate
        return here

    @property
    def image_ids(self) -> list[int]:
        return list(self.images)

    def __len__(self) -> int:
        return len(self.images)

    def find_image(self, file_name: str) -> ImageRecord | None:
        """The record of the image with that file name (the base name is enough)."""
        return self._by_file.get(file_name) or self._by_file.get(Path(file_name).name)

    def read_image(self, image_id: int) -> np.ndarray:
        return read_image(self.images[image_id].path)

    def annotations(self, image_id: int) -> list[dict]:
        """The raw person annotations of an image, crowd regions included."""
        return self._annotations.get(image_id, [])

    def people(self, image_id: int, min_keypoints: int = 1) -> Poses:
        """The labelled people of an image (not crowd regions) with at least `min_keypoints`
        labelled keypoints, as ground-truth `Poses` with boxes."""
        anns = [
            a
            for a in self.annotations(image_id)
            if not a.get("iscrowd") and _num_labelled(a) >= min_keypoints
        ]
        return Poses.from_coco(anns, self.layout) if anns else Poses.empty(self.layout)

    def ignore_mask(self, image_id: int, unlabelled: bool = True) -> np.ndarray:
        """Boolean (H, W) mask of the regions a loss should ignore: crowd regions, and with
        `unlabelled` the people annotated without any keypoint."""
        rec = self.images[image_id]
        out = np.zeros((rec.height, rec.width), dtype=bool)
        for ann in self.annotations(image_id):
            if ann.get("iscrowd") or (unlabelled and _num_labelled(ann) == 0):
                out |= annotation_mask(ann, rec.height, rec.width)
        return out

    def ground_truth_results(self) -> list[dict]:
        """The labelled people of every image as COCO results entries (score 1): a perfect
        prediction, for checking evaluation and codecs."""
        results: list[dict] = []
        for image_id in self.images:
            results.extend(self.people(image_id).to_coco(image_id, self.category_id))
        return results


def _annotation_problem(ann: dict, num_keypoints: int, images: dict) -> str | None:
    """What is wrong with a person annotation of a category of `num_keypoints` keypoints."""
    problem = integer_problem(ann.get("image_id"))
    if problem:
        return f"'image_id' {problem}"
    if ann["image_id"] not in images:
        return f"refers to unknown image {ann['image_id']}"
    kp = ann.get("keypoints", [])
    if not ann.get("iscrowd") and isinstance(kp, list) and len(kp) != 3 * num_keypoints:
        return (
            f"has {len(kp)} keypoint values; the category has {num_keypoints} keypoints, so "
            f"{3 * num_keypoints} are expected"
        )
    problem = numbers_problem(kp)
    if problem:
        return f"'keypoints' {problem}"
    if "bbox" in ann:
        problem = numbers_problem(ann["bbox"], 4)
        if problem:
            return f"'bbox' {problem}"
        if min(ann["bbox"][2:]) < 0:
            return f"'bbox' {shown(ann['bbox'])} has a negative width or height"
    if "area" in ann:
        problem = number_problem(ann["area"])
        if problem:
            return f"'area' {problem}"
    return None


def _num_labelled(ann: dict) -> int:
    return int((np.asarray(ann.get("keypoints", []), dtype=np.float32)[2::3] > 0).sum())


def annotation_mask(ann: dict, height: int, width: int) -> np.ndarray:
    """Boolean (H, W) mask of an annotation's segmentation (polygons or RLE), or of its box
    where it has none (CrowdPose)."""
    seg = ann.get("segmentation")
    if seg:
        if isinstance(seg, list):
            rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
        elif isinstance(seg.get("counts"), list):
            rle = mask_utils.frPyObjects(seg, height, width)
        else:
            rle = seg
        return mask_utils.decode(rle).astype(bool)
    out = np.zeros((height, width), dtype=bool)
    if "bbox" in ann:
        x, y, w, h = ann["bbox"]
        out[max(int(y), 0) : int(np.ceil(y + h)), max(int(x), 0) : int(np.ceil(x + w))] = True
    return out


def write_coco_results(path: str | Path, results: list[dict]) -> None:
    """Write a COCO results file (a list of result entries)."""
    write_json(path, results)


def read_coco_results(path: str | Path) -> list[dict]:
    """Read and check a COCO keypoint results file."""
    data = read_json(path)
    check_coco_results(data, path)
    return data


def check_coco_results(results: Any, path: str | Path | None = None) -> None:
    """Raise `MultiposeError` (naming `path`) unless `results` is a list of COCO keypoint
    results: an integer `image_id`, `keypoints` as finite x, y, score triples, a finite
    `score` and, where given, an integer `category_id`."""
    if not isinstance(results, list):
        raise MultiposeError("not a COCO results file (expected a list of results)", path)
    for i, entry in enumerate(results):
        problem = _result_problem(entry)
        if problem:
            raise MultiposeError(f"result {i}: {problem}", path)


def _result_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "is not an object"
    for key in ("image_id", "keypoints", "score"):
        if key not in entry:
            return f"has no {key!r}"
    kp = entry["keypoints"]
    if not isinstance(kp, list) or not kp or len(kp) % 3:
        return "'keypoints' is not a list of x, y, score triples"
    for key, problem in (
        ("image_id", integer_problem(entry["image_id"])),
        ("keypoints", numbers_problem(kp)),
        ("score", number_problem(entry["score"])),
        ("category_id", integer_problem(entry["category_id"]) if "category_id" in entry else None),
        ("bbox", numbers_problem(entry["bbox"], 4) if "bbox" in entry else None),
    ):
        if problem:
            return f"{key!r} {problem}"
    return None


def results_by_image(results: list[dict], layout: Layout | str | None = None) -> dict[int, Poses]:
    """Group COCO results entries into `Poses` per image id."""
    groups: dict[int, list[dict]] = defaultdict(list)
    for entry in results:
        groups[int(entry["image_id"])].append(entry)
    return {image_id: Poses.from_coco(entries, layout) for image_id, entries in groups.items()}
