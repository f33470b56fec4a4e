import csv
import json
import shutil

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from multipose.cli import main
from multipose.io.media import VideoWriter, iter_video, read_image, write_image
from multipose.specs import get_spec
from multipose.weights.checkpoints import write_safetensors

GRAPH = "weights/tf-pose-mobilenet_v2_small/graph_opt.pb"
BLAZEPOSE = "weights/mediapipe-0.10.21"  # BlazePose's TFLite files


@pytest.fixture
def photos(tmp_path, data_dir):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("ski.jpg", "COCO_val2014_000000000536.jpg"):
        shutil.copy(data_dir / "photos" / name, folder / name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return folder


def test_estimate_a_folder_with_a_bad_file(photos, data_dir, tmp_path):
    out = tmp_path / "out"
    args = [
        "estimate",
        str(photos),
        "--model",
        "blazepose-full",
        "--weights",
        str(data_dir.parent / BLAZEPOSE),
        "--out",
        str(out),
        "--render",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1  # one image failed, the others were done
    assert "broken.jpg" in result.output and "1 failed" in result.output
    line = f"{photos / 'broken.jpg'}: not an image (format not recognised)"
    assert len(line) > 80  # one line as it happens and one in the summary, however long
    assert result.output.splitlines().count(f"error: {line}") == 1
    assert result.output.splitlines().count(f"failed: {line}") == 1
    assert "2 images (0 skipped as done)" in result.output
    ski = json.loads((out / "ski_keypoints.json").read_text())
    assert ski["version"] == 1.3 and len(ski["people"]) >= 5
    assert len(ski["people"][0]["pose_keypoints_2d"]) == 75  # BODY_25: it has heels
    assert (out / "ski_rendered.png").is_file()
    coco = json.loads((out / "coco_results.json").read_text())
    assert 536 in {r["image_id"] for r in coco}  # COCO_val2014_000000000536.jpg
    assert all(len(r["keypoints"]) == 51 for r in coco)

    again = CliRunner().invoke(main, [*args, "--resume"])
    assert "0 images (2 skipped as done)" in again.output
    assert len(json.loads((out / "coco_results.json").read_text())) == len(coco)


def test_estimate_a_glob(photos, data_dir, tmp_path):
    """A quoted pattern picks its files only (broken.jpg beside them is not touched)."""
    out = tmp_path / "out"
    weights = ["--model", "blazepose-full", "--weights", str(data_dir.parent / BLAZEPOSE)]
    weights += ["--out", str(out)]
    result = CliRunner().invoke(main, ["estimate", str(photos / "COCO_*.jpg"), *weights])
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.glob("*_keypoints.json")] == [
        "COCO_val2014_000000000536_keypoints.json"
    ]
    nothing = CliRunner().invoke(main, ["estimate", str(photos / "*.png"), *weights])
    assert nothing.exit_code == 1 and "no file matches the pattern" in nothing.output


def test_estimate_top_down_with_a_detections_file(tmp_path, data_dir):
    spec = get_spec("simplebaseline-r50")
    weights = tmp_path / "sb.safetensors"
    write_safetensors(weights, spec.build())
    image = data_dir / "mmpose-tests" / "coco" / "000000000785.jpg"
    dets = data_dir / "mmpose-tests" / "coco" / "test_coco_det_AP_H_56.json"
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "estimate",
            str(image),
            "--model",
            "simplebaseline-r50",
            "--weights",
            str(weights),
            "--boxes",
            str(dets),
            "--out",
            str(out),
            "--format",
            "coco",
            "--flip",
        ],
    )
    assert result.exit_code == 0, result.output
    boxes = [d for d in json.loads(dets.read_text()) if d["image_id"] == 785]
    coco = json.loads((out / "coco_results.json").read_text())
    assert len(coco) == len(boxes) and all(r["image_id"] == 785 for r in coco)
    assert not list(out.glob("*_keypoints.json"))


def test_estimate_errors(tmp_path, data_dir):
    result = CliRunner().invoke(main, ["estimate", str(tmp_path / "nowhere"), "--weights", "x"])
    assert result.exit_code == 1 and "no such file or folder" in result.output
    # --out naming a file: said before the model loads (its weights "x" are not even looked at)
    (tmp_path / "afile").write_text("mine")
    photo = str(data_dir / "photos" / "ski.jpg")
    args = ["estimate", photo, "--weights", "x", "--out", str(tmp_path / "afile")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and result.output == (
        f"error: {tmp_path / 'afile'}: is a file, not a folder to write the outputs into\n"
    )
    assert (tmp_path / "afile").read_text() == "mine"


@pytest.fixture
def clip(tmp_path, data_dir):
    """A 5-frame 10 fps video of ski.jpg sliding right."""
    photo = cv2.resize(read_image(data_dir / "photos" / "ski.jpg"), (356, 337))
    video = tmp_path / "clip.mp4"
    writer = VideoWriter(video, fps=10)
    for frame in range(5):
        writer.write(np.roll(photo, 3 * frame, axis=1))
    writer.close()
    return video


def _mobilenet(data_dir, out):
    return [
        "--model",
        "openpose-mobilenet-v2",
        "--weights",
        str(data_dir.parent / GRAPH),
        "--out",
        str(out),
    ]


def test_estimate_a_video_with_tracking(tmp_path, data_dir, clip):
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    out = tmp_path / "out"
    args = [
        "estimate",
        str(clip),
        str(tmp_path / "bad.mp4"),
        *_mobilenet(data_dir, out),
        "--render",
        "--track",
        "--batch-size",
        "2",  # frames 0-1, 2-3, 4
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "bad.mp4" in result.output  # the bad video alone fails
    index = json.loads((out / "clip_frames.json").read_text())
    assert [f["frame"] for f in index] == list(range(5))
    times = [f["time_ms"] for f in index]
    assert times == sorted(times) and times[-1] > times[0]
    frames = [json.loads((out / f["file"]).read_text()) for f in index]
    ids = [{p["person_id"][0] for p in f["people"]} for f in frames]
    assert all(i >= 0 for s in ids for i in s)
    assert len(ids[0] & ids[-1]) >= 3  # the same people keep their ids as they move
    assert len(list(iter_video(out / "clip_rendered.mp4"))) == 5
    coco = json.loads((out / "clip_coco_results.json").read_text())
    assert sorted({r["image_id"] for r in coco}) == list(range(5))
    assert not list(out.glob("bad*"))  # the unreadable video left nothing behind


def test_a_missing_camera_is_reported(tmp_path, data_dir):
    weights = ["--model", "blazepose-full", "--weights", str(data_dir.parent / BLAZEPOSE)]
    args = ["estimate", "7", *weights, "--out", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "camera 7: no such camera" in result.output


def test_a_camera_is_read_until_it_stops(tmp_path, data_dir, clip, monkeypatch):
    """Camera 0 (here OpenCV handed the test's clip): frames named camera0_*, times measured
    from the first frame."""
    import multipose.io.media as media

    opened, real = [], cv2.VideoCapture

    def capture(source, *args):
        opened.append(source)
        return real(str(clip)) if source == 0 else real(source, *args)

    monkeypatch.setattr(media.cv2, "VideoCapture", capture)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["estimate", "0", "--render", *_mobilenet(data_dir, out)])
    assert result.exit_code == 0, result.output
    assert opened[0] == 0
    index = json.loads((out / "camera0_frames.json").read_text())
    files = [f"camera0_keypoints/camera0_{i:012d}_keypoints.json" for i in range(5)]
    assert [f["file"] for f in index] == files
    times = [f["time_ms"] for f in index]
    assert times[0] == 0 and times == sorted(times)
    assert len(list(iter_video(out / "camera0_rendered.mp4"))) == 5


def _interrupt_the_third_network_call(monkeypatch) -> None:
    """Ctrl-C (KeyboardInterrupt) at the bottom-up pipeline's third batch."""
    from multipose.pipelines import BottomUpPipeline

    calls, batch = [], BottomUpPipeline.batch

    def interrupted(self, images, ids=None):
        calls.append(len(images))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return batch(self, images, ids)

    monkeypatch.setattr(BottomUpPipeline, "batch", interrupted)


@pytest.mark.parametrize("smooth", [[], ["--smooth"]])
def test_an_interrupted_video_keeps_what_it_did(tmp_path, data_dir, clip, monkeypatch, smooth):
    """Ctrl-C in the middle of a video (the third network call): the frames done are written
    (smoothed both ways too, where the smoother held them), the index and COCO results hold
    them, the overlay video is closed and readable."""
    _interrupt_the_third_network_call(monkeypatch)
    out = tmp_path / "out"
    args = ["estimate", str(clip), "--render", *_mobilenet(data_dir, out), *smooth]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 130 and "interrupted" in result.output, result.output
    assert "0 images (0 skipped as done), 2 video frames" in result.output
    index = json.loads((out / "clip_frames.json").read_text())
    assert [f["frame"] for f in index] == [0, 1]
    coco = json.loads((out / "clip_coco_results.json").read_text())
    assert {r["image_id"] for r in coco} <= {0, 1} and len(coco) == sum(f["people"] for f in index)
    assert not (out / "coco_results.json").exists()  # no images in this job
    assert len(list(iter_video(out / "clip_rendered.mp4"))) == 2

    monkeypatch.undo()  # the network runs on
    again = CliRunner().invoke(main, [*args, "--resume"])  # the cut-off video is done again
    assert again.exit_code == 0 and "5 video frames" in again.output
    assert len(json.loads((out / "clip_frames.json").read_text())) == 5
    done = CliRunner().invoke(main, [*args, "--resume"])  # now it is skipped
    assert "(1 skipped as done)" in done.output and "video frames" not in done.output


def test_ctrl_c_is_exit_130_and_the_summary_counts_what_was_written(
    tmp_path, data_dir, monkeypatch
):
    """Ctrl-C at the third image's network call: the two images before it are written and
    counted; Ctrl-C while starting (before or while the model loads) is 130 too."""
    from multipose.runner import ModelChoice

    photos = tmp_path / "photos"
    photos.mkdir()
    small = cv2.resize(read_image(data_dir / "photos" / "ski.jpg"), (160, 120))
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        write_image(photos / name, small)
    _interrupt_the_third_network_call(monkeypatch)
    out = tmp_path / "out"
    # one thread: one image at a time, so that the third call is the third image's
    args = ["estimate", str(photos), *_mobilenet(data_dir, out), "--workers", "0", "--threads", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 130 and "2 images (0 skipped as done)" in result.output
    assert sorted(p.name for p in out.glob("*_keypoints.json")) == [
        "a_keypoints.json",
        "b_keypoints.json",
    ]

    def load_copies(self, count, threads=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(ModelChoice, "load_copies", load_copies)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 130, result.output
    assert "interrupted while starting: no image or frame was estimated" in result.output

    def list_inputs(inputs):
        raise KeyboardInterrupt

    monkeypatch.setattr("multipose.io.media.list_inputs", list_inputs)
    result = CliRunner().invoke(main, args)
    assert (result.exit_code, result.output) == (130, "interrupted\n")


def test_an_empty_folder_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    result = CliRunner().invoke(main, ["estimate", str(tmp_path / "empty"), "--weights", "x"])
    assert result.exit_code == 1
    assert result.output.startswith(
        f"error: {tmp_path / 'empty'}: no image or video in this folder"
    )


def test_a_video_as_csv_smoothed_with_a_track_summary_and_a_browser_video(tmp_path, data_dir, clip):
    import av

    out = tmp_path / "out"
    args = ["estimate", str(clip), *_mobilenet(data_dir, out), "--format", "all", "--smooth"]
    result = CliRunner().invoke(main, [*args, "--render"])
    assert result.exit_code == 0, result.output
    tracks = json.loads((out / "clip_tracks.json").read_text())
    assert tracks and all(t["frames"] >= 1 for t in tracks)
    assert f"clip: {len(tracks)} ids (frames per id: {tracks[0]['id']}: " in result.output
    with (out / "clip.csv").open() as f:
        rows = list(csv.DictReader(f))
    index = json.loads((out / "clip_frames.json").read_text())
    assert len(rows) == sum(f["people"] for f in index)
    assert {int(r["frame"]) for r in rows} <= set(range(5)) and "right_wrist_x" in rows[0]
    assert {int(r["id"]) for r in rows} == {t["id"] for t in tracks}
    smoothed = json.loads((out / "clip_coco_results.json").read_text())
    raw = json.loads((out / "clip_raw_coco_results.json").read_text())
    assert len(raw) == len(smoothed) and raw != smoothed  # the raw keypoints are kept
    with av.open(str(out / "clip_rendered.mp4")) as video:
        stream = video.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.average_rate == 10
        assert stream.frames == 5


def test_images_as_csv(tmp_path, data_dir):
    out = tmp_path / "out"
    photo = data_dir / "photos" / "ski.jpg"
    result = CliRunner().invoke(
        main, ["estimate", str(photo), *_mobilenet(data_dir, out), "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    with (out / "poses.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 3 and {r["file"] for r in rows} == {str(photo)}
    assert [r["id"] for r in rows] == [str(i) for i in range(len(rows))]
    assert not list(out.glob("*_keypoints.json")) and not (out / "coco_results.json").exists()
