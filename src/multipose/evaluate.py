"""COCO keypoint evaluation (OKS AP/AR) with pycocotools, behind input checks."""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from multipose.errors import MultiposeError
from multipose.io.coco import CocoDataset, check_coco_results, read_coco_results

METRICS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def evaluate(
    ground_truth: CocoDataset | str | Path,
    results: list[dict] | str | Path,
    image_ids: list[int] | None = None,
    max_detections: int = 20,
) -> dict[str, float]:
    """COCO keypoint metrics of `results` against `ground_truth`, over all of its images (or
    `image_ids`). The OKS sigmas are those of the dataset's layout (COCO-17 or CrowdPose-14).

    max_detections: people evaluated per image, the highest scoring first; COCO's standard is
    20, which caps AP on images of more people (synthetic crowds need more)."""
    gt = ground_truth if isinstance(ground_truth, CocoDataset) else CocoDataset(ground_truth)
    source = None if isinstance(results, list) else Path(results)
    if source is not None:
        results = read_coco_results(source)
    check_coco_results(results, source)
    _check_results(results, gt, source)
    _check_boxes(gt)
    if gt.layout.sigmas is None:
        raise MultiposeError(f"no OKS sigmas are known for layout {gt.layout.name}", gt.path)
    if not results:
        return dict.fromkeys(METRICS, 0.0)

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = _with_areas(gt.data)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(
            [{"category_id": gt.category_id, **copy.deepcopy(r)} for r in results]
        )
        evaluator = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        evaluator.params.kpt_oks_sigmas = np.array(gt.layout.sigmas)
        evaluator.params.catIds = [gt.category_id]
        evaluator.params.maxDets = [max_detections]
        if image_ids is not None:
            evaluator.params.imgIds = sorted(image_ids)
        evaluator.evaluate()
        evaluator.accumulate()
    return _summary(evaluator)


def _summary(evaluator: COCOeval) -> dict[str, float]:
    """The ten standard keypoint metrics (as COCOeval.summarize computes them, for the one
    detection cap set in the parameters); -1 where there is nothing to measure."""
    params, results = evaluator.params, evaluator.eval

    def mean(values: np.ndarray) -> float:
        values = values[values > -1]
        return float(values.mean()) if values.size else -1.0

    def metric(kind: str, iou: float | None = None, area: str = "all") -> float:
        table = results[kind][..., params.areaRngLbl.index(area), 0]  # IoU thresholds first
        if iou is not None:
            table = table[np.isclose(params.iouThrs, iou)]
        return mean(table)

    values = []
    for kind in ("precision", "recall"):
        values += [metric(kind), metric(kind, 0.5), metric(kind, 0.75)]
        values += [metric(kind, area="medium"), metric(kind, area="large")]
    return dict(zip(METRICS, values, strict=True))


def _with_areas(data: dict) -> dict:
    """The dataset with `area` filled from the box where it is missing (CrowdPose has none)."""
    if all("area" in a for a in data["annotations"]):
        return data
    data = dict(data)
    data["annotations"] = [
        a if "area" in a else {**a, "area": float(a["bbox"][2] * a["bbox"][3])}
        for a in data["annotations"]
    ]
    return data


def _check_results(results: list[dict], gt: CocoDataset, source: Path | None) -> None:
    expected = 3 * gt.layout.num_keypoints
    unknown = sorted({r["image_id"] for r in results} - set(gt.images))
    if unknown:
        shown = ", ".join(map(str, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        raise MultiposeError(
            f"{len(unknown)} image id(s) are not in the ground truth {gt.path}: {shown}", source
        )
    for i, r in enumerate(results):
        if len(r["keypoints"]) != expected:
            raise MultiposeError(
                f"result {i} has {len(r['keypoints'])} keypoint values; the ground truth has "
                f"{gt.layout.num_keypoints} keypoints ({expected} values)",
                source,
            )
        if r.get("category_id", gt.category_id) != gt.category_id:
            raise MultiposeError(
                f"result {i} has category_id {r['category_id']}; the keypoint category of the "
                f"ground truth is {gt.category_id}",
                source,
            )


def _check_boxes(gt: CocoDataset) -> None:
    """COCO's OKS reads every person's box (for the people labelled without keypoints)."""
    for image_id in gt.images:
        for ann in gt.annotations(image_id):
            if "bbox" not in ann:
                raise MultiposeError(
                    f"annotation {ann.get('id')} has no 'bbox' (COCO's evaluation needs every "
                    "person's box)",
                    gt.path,
                )


def format_metrics(metrics: dict[str, float]) -> str:
    """A two-line table of the metrics."""
    header = " ".join(f"{name:>6}" for name in metrics)
    values = " ".join(f"{v:6.3f}" for v in metrics.values())
    return f"{header}\n{values}"
