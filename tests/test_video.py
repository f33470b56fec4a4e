"""Synthetic-motion clips, video scores, CSV rows and video mode."""

import csv

import numpy as np
import pytest

import multipose
from multipose.data.motion import BAR_GREY, Motion, motion_clip
from multipose.io.csv_file import csv_header, csv_rows, write_csv
from multipose.io.media import read_image
from multipose.pipelines.video_mode import VideoMode, follows
from multipose.poses import Poses
from multipose.skeleton import BLAZEPOSE33, COCO17
from multipose.tracking import Tracker, distinct
from multipose.video_metrics import Frame, score_video

from conftest import SHARED

BLAZEPOSE = SHARED / "weights" / "mediapipe-0.10.21"


def dotted_photo() -> tuple[np.ndarray, Poses]:
    """A dark photo with a bright dot under each of one person's 17 keypoints."""
    rng = np.random.default_rng(0)
    photo = np.full((200, 300, 3), 20, np.uint8)
    keypoints = np.zeros((1, 17, 3), np.float32)
    keypoints[0, :, 0] = rng.uniform(60, 240, 17).round()
    keypoints[0, :, 1] = rng.uniform(40, 160, 17).round()
    keypoints[0, :, 2] = 1
    for x, y, _ in keypoints[0].astype(int):
        photo[y - 1 : y + 2, x - 1 : x + 2] = 255
    return photo, Poses(keypoints, layout=COCO17)


def test_clip_truth_moves_with_the_picture():
    photo, people = dotted_photo()
    motion = Motion(frames=5, view=0.9, pan=(0.2, 0.1), zoom=1.3, rotation=8.0)
    frames = list(motion_clip(photo, people, motion))
    assert len(frames) == 5 and frames[0][0].shape == (180, 270, 3)
    for image, truth, _ in frames:
        assert truth.track_ids.tolist() == [0]
        for x, y, s in truth.keypoints[0]:
            if s > 0:  # a keypoint in view lies on its dot
                assert image[round(y), round(x)].min() > 120
    moved = frames[-1][1].keypoints[0] - frames[0][1].keypoints[0]
    assert np.abs(moved[..., :2]).max() > 10


def test_bars_hide_what_they_cover():
    photo, people = dotted_photo()
    motion = Motion(frames=9, view=1.0, pan=(0.0, 0.0), bars=1, bar_width=0.3)
    hidden = 0
    for frame, (image, truth, _) in enumerate(motion_clip(photo, people, motion)):
        for x0, x1 in motion.bar_spans(frame, image.shape[1]):
            assert (image[:, x0:x1] == BAR_GREY).all()
            inside = (people.keypoints[0, :, 0] >= x0) & (people.keypoints[0, :, 0] < x1)
            assert (truth.keypoints[0, inside, 2] == 0).all()
            assert (truth.keypoints[0, ~inside, 2] > 0).all()
            hidden += inside.sum()
    assert hidden > 0


def two_walkers(frames: int = 12) -> list[Poses]:
    base = np.zeros((2, 17, 3), np.float32)
    grid = np.random.default_rng(1).uniform(0, 100, (17, 2))
    base[0, :, :2], base[1, :, :2] = grid + 50, grid + 300
    base[..., 2] = 1
    out = []
    for t in range(frames):
        kp = base.copy()
        kp[..., 0] += 4 * t
        out.append(Poses(kp, layout=COCO17, track_ids=[0, 1]))
    return out


def test_perfect_tracking_scores_full_recall_and_no_jitter():
    truth = two_walkers()
    areas = np.array([5000.0, 5000.0])
    scores = score_video([Frame(t, areas, t) for t in truth])
    assert (scores.recall, scores.complete_frames) == (1.0, 1.0)
    assert (scores.id_switches, scores.fragments, scores.jitter) == (0, 0, 0.0)


def test_swaps_gaps_and_shake_are_counted():
    truth = two_walkers()
    areas = np.array([5000.0, 5000.0])
    rng = np.random.default_rng(2)
    found = []
    for t, people in enumerate(truth):
        kp = people.keypoints.copy()
        kp[..., :2] += rng.normal(0, 1.5, kp[..., :2].shape)
        ids = [0, 1] if t < 6 else [7, 0]  # a new id for person 0, person 1 takes id 0
        found.append(Poses(kp, layout=COCO17, track_ids=ids)[[0, 1] if t != 3 else [0]])
    scores = score_video([Frame(t, areas, f) for t, f in zip(truth, found, strict=True)])
    assert scores.recall == pytest.approx(23 / 24) and scores.complete_frames == pytest.approx(
        11 / 12
    )
    assert scores.id_switches == 2 and scores.fragments == 2
    assert 2.0 < scores.jitter < 8.0  # about sqrt(6) * 1.5 * sqrt(pi / 2)


def test_csv_rows_name_every_keypoint(tmp_path):
    kp = np.zeros((2, 17, 3), np.float32)
    kp[0, 0] = (10.5, 20.25, 0.9)
    kp[1, 5] = (30, 40, 0.5)
    people = Poses(kp, [0.8, 0.6], COCO17, track_ids=[4, -1])
    rows = csv_rows("clip.mp4", people, COCO17, frame=3, time_ms=100.0)
    path = tmp_path / "out.csv"
    write_csv(path, COCO17, rows)
    with path.open() as f:
        table = list(csv.DictReader(f))
    header = csv_header(COCO17)
    assert header[:8] == [
        "file",
        "frame",
        "time_ms",
        "id",
        "score",
        "nose_x",
        "nose_y",
        "nose_score",
    ]
    assert len(header) == 5 + 3 * 17
    assert [r["id"] for r in table] == ["4", "1"]  # a track id, else the place in the frame
    assert table[0]["nose_x"] == "10.5" and table[0]["nose_score"] == "0.9"
    assert table[1]["nose_x"] == "" and table[1]["nose_score"] == "0"
    assert table[1]["left_shoulder_y"] == "40.0" and table[0]["frame"] == "3"
    assert csv_rows("a.jpg", people, COCO17)[0][1:3] == ["", ""]  # images have no frame


@pytest.fixture(scope="module")
def blazepose():
    if not BLAZEPOSE.is_dir():
        pytest.skip("the BlazePose weights are not in ../shared")
    return multipose.load("blazepose-full", BLAZEPOSE)


def test_video_mode_follows_people_and_runs_the_detector_every_k_frames(blazepose):
    photo = read_image(SHARED / "data" / "photos" / "ski.jpg")
    motion = Motion(frames=6, view=1.2, pan=(0.15, 0.0))
    clip = [image for image, _, _ in motion_clip(photo, Poses.empty(), motion)]
    first = blazepose(clip[0])
    assert follows(blazepose) and not follows(object())
    video, tracker = VideoMode(blazepose, every=4), Tracker()
    found = [tracker.update(video(image)) for image in clip]
    assert video.full_passes == 2  # frames 0 and 4: nobody was lost
    assert len(found[0]) == len(first) >= 2
    assert all(len(f) == len(first) for f in found)  # followed, not lost
    assert all(f.track_ids.tolist() == found[0].track_ids.tolist() for f in found)


def test_the_hybrids_video_mode_follows_both_people_of_the_pair(hybrid_weights, data_dir):
    """The pair photo (coco-mini-val2017 192699): a man, and a woman lying down whom the hybrid
    finds twice (bottom-up, and a BlazePose person matching no bottom-up one); video mode
    follows each once, and both keep their ids. The truth: the hybrid's people on the still
    photo, its duplicate of the woman (which the tracker drops) left out."""
    hybrid = multipose.load("mobilenet-thin+blazepose", hybrid_weights)
    photo = read_image(data_dir / "coco-mini-val2017" / "images" / "000000192699.jpg")
    first = hybrid(photo)
    first = first[distinct(first)].convert(COCO17)
    assert len(first) == 2
    boxes = first.keypoint_boxes()
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) * 0.53
    video, tracker = VideoMode(hybrid, every=10), Tracker()
    frames = []
    for image, truth, _ in motion_clip(photo, first, Motion(frames=4, view=1.0, pan=(0.05, 0))):
        frames.append(Frame(truth, areas, tracker.update(video(image))))
        assert video.full_passes == 1
    assert len(video.ids) + len(video.others) == 2  # each followed once
    scores = score_video(frames)
    assert scores.recall == 1.0 and scores.id_switches == 0


def test_between_full_passes_video_mode_keeps_the_full_passes_corrections(
    hybrid_weights, data_dir, monkeypatch
):
    """The hybrid's keypoints (fused with the bottom-up model's) differ from BlazePose's own;
    video mode carries that difference, in units of each person's ROI, to the frames between
    full passes: on a still clip, the frame after a full pass gives keypoints nearer the full
    pass's (offsets not capped here) than BlazePose's own (BlazePose looks again in the ROI
    of its landmarks, which moves them a little)."""
    import multipose.pipelines.video_mode as video_mode

    hybrid = multipose.load("mobilenet-thin+blazepose", hybrid_weights)
    photo = read_image(data_dir / "coco-mini-val2017" / "images" / "000000192699.jpg")

    def two_frames(farthest: float) -> tuple[Poses, Poses, np.ndarray]:
        monkeypatch.setattr(video_mode, "FARTHEST", farthest)
        video = VideoMode(hybrid, every=10)
        full, after = video(photo), video(photo)
        assert video.full_passes == 1
        return full, after, video.ids  # the ids of those BlazePose follows

    full, after, followed = two_frames(np.inf)
    _, own, _ = two_frames(0.0)
    assert len(followed) >= 1
    for track_id in followed:
        errors = []
        for given in (after, own):
            ours = given.keypoints[given.track_ids == track_id][0]
            theirs = full.keypoints[full.track_ids == track_id][0]
            both = (ours[:, 2] > 0) & (theirs[:, 2] > 0)
            errors.append(np.median(np.abs(ours[both, :2] - theirs[both, :2])))
        assert errors[0] < 0.8 * errors[1]  # nearer the full pass's than BlazePose's own


def test_carried_offsets_are_in_roi_units_capped_and_blended():
    from types import SimpleNamespace

    from multipose.pipelines.video_mode import FARTHEST, from_roi
    from multipose.skeleton import BLAZEPOSE33

    video = VideoMode(SimpleNamespace(spec=None))
    video.ids = np.array([5])
    video.offsets = np.zeros((1, 33, 2))
    seen = np.zeros((1, 33, 3), np.float32)
    seen[0, :, :2], seen[0, :, 2] = 100.0, 1.0
    found = seen.copy()
    found[0, 0, 0] += 4.0  # 4 px right of BlazePose's
    found[0, 1, 1] += 200.0  # a disagreement: capped
    roi = np.array([[100.0, 100.0, 400.0, np.pi / 2]])  # turned a quarter, 400 px wide
    as_poses = lambda kp: Poses(kp, layout=BLAZEPOSE33, track_ids=[5])  # noqa: E731
    video._carry(as_poses(found), as_poses(seen), roi)
    np.testing.assert_allclose(from_roi(video.offsets[0], roi[0])[0], [4.0, 0.0], atol=1e-6)
    assert np.linalg.norm(video.offsets[0, 1]) == pytest.approx(FARTHEST)
    assert np.abs(video.offsets[0, 0]).max() == pytest.approx(0.01)  # 4 px of 400, turned
    video._carry(as_poses(seen), as_poses(seen), roi, blend=0.5)  # now they agree
    np.testing.assert_allclose(from_roi(video.offsets[0], roi[0])[0], [2.0, 0.0], atol=1e-6)


def test_new_people_are_followed_by_blazepose_only_where_the_full_pass_found_them():
    """A new person is followed by BlazePose only where the full pass's BlazePose found them
    (its landmarks alike to them above AGREE; one each, none given to the follow step already),
    from the ROI of those landmarks: here BlazePose found the first person, and the second 150
    px off (someone beside or behind them), and its third person was used already."""
    from types import SimpleNamespace

    from multipose.codecs.blazepose import BlazePoseCodec, rois_from_alignment
    from multipose.pipelines.blazepose import Landmarks

    rng = np.random.default_rng(0)
    landmarks = np.ones((3, 39, 5))
    landmarks[:, :, :2] = rng.uniform(0, 100, (3, 39, 2)) + [
        [[100, 100]],
        [[400, 100]],
        [[700, 100]],
    ]
    codec = BlazePoseCodec()
    people = codec.poses(landmarks, np.ones(3))
    people = Poses(people.keypoints, people.scores, people.layout, None, np.array([4, 5, 6]))
    found = landmarks.copy()
    found[1, :, 0] += 150
    blazepose = SimpleNamespace(
        spec=None, codec=codec, found=Landmarks(found, np.ones(3), np.zeros((3, 4, 4), bool))
    )
    seen, rois = VideoMode(blazepose)._seen_by_blazepose(people, np.array([2]))
    assert seen.track_ids.tolist() == [4] and rois.shape == (1, 4)
    np.testing.assert_allclose(seen.keypoints, people.keypoints[:1])
    np.testing.assert_allclose(
        rois, rois_from_alignment(landmarks[:1, 33, :2], landmarks[:1, 34, :2])
    )


def flow_people(keypoints: np.ndarray, ids: list[int]) -> Poses:
    """People (COCO-17 keypoints, in the BlazePose-33 layout) as video mode's optical flow
    follows them."""
    people = Poses(keypoints, np.full(len(keypoints), 0.9), COCO17).convert(BLAZEPOSE33)
    return Poses(people.keypoints, people.scores, BLAZEPOSE33, None, ids)


def test_the_optical_flow_moves_people_with_the_picture_a_crossing_bar_drags_none():
    """Two people the optical flow follows on a textured picture moving 4 px right a frame;
    a textured bar going 10 px left a frame hides a part of the second: both move 4 px right,
    all their keypoints (those the flow loses on the bar with the rest) within the tolerance
    of their own flow (the share AGREE_SIZE of their keypoint box's diagonal), those far from
    the bar exactly; in a blank frame after it they are missed, and moved 4 px right again."""
    from types import SimpleNamespace

    import cv2

    from multipose.pipelines.video_mode import AGREE_SIZE

    noise = np.random.default_rng(0).integers(0, 256, (240, 400)).astype(np.uint8)
    picture = cv2.GaussianBlur(noise, (0, 0), 2)
    before, after = picture[:, 40:360], picture[:, 36:356].copy()
    rng = np.random.default_rng(1)
    kp = np.ones((2, 17, 3), np.float32)
    kp[:, :, :2] = rng.uniform(0, 70, (2, 17, 2)) + [[[40, 60]], [[180, 60]]]
    bar = cv2.GaussianBlur(noise[:, :20], (0, 0), 2)  # textured, going left 10 px a frame
    before[:, 190:210], after[:, 180:200] = bar, bar  # over a part of the second
    video = VideoMode(SimpleNamespace(spec=None))
    video._to_flow(flow_people(kp, [5, 6]))
    start = video.others.keypoints.copy()
    given = video._follow_others(before, after)
    assert given.track_ids.tolist() == [5, 6] and not video.others_lost
    found = start[..., 2] > 0
    error = np.linalg.norm(given.keypoints[..., :2] - start[..., :2] - [4.0, 0.0], axis=-1)
    assert error[found].max() <= AGREE_SIZE * np.hypot(70, 70)
    far = found & ((start[..., 0] < 150) | (start[..., 0] > 210 + 21))
    assert far.sum() >= 17 + 3 and error[far].max() < 0.3
    blank = np.full_like(after, 90)  # then nothing to follow: missed, moved as they moved
    assert len(video._follow_others(after, blank)) == 0 and video.other_misses.tolist() == [1, 1]
    shift = video.others.keypoints[..., :2] - given.keypoints[..., :2]
    np.testing.assert_allclose(shift[found], np.tile([4.0, 0.0], (found.sum(), 1)), atol=0.5)


def test_one_the_flow_loses_in_view_calls_for_a_full_pass_one_gone_from_view_not():
    """People the optical flow cannot follow (a blank frame) are not given, and dropped after
    `patience` frames; a full pass follows where one of them was still in view."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    kp = np.ones((2, 17, 3), np.float32)
    kp[:, :, :2] = rng.uniform(0, 60, (2, 17, 2)) + [[[10, 10]], [[500, 10]]]  # 2nd: outside
    blank = np.full((100, 200), 90, np.uint8)
    for in_view, lost in (([0, 1], True), ([1], False)):
        video = VideoMode(SimpleNamespace(spec=None), patience=2)
        video._to_flow(flow_people(kp[in_view], in_view))
        for _ in range(2):
            assert len(video._follow_others(blank, blank)) == 0 and not video.others_lost
        video._follow_others(blank, blank)
        assert len(video.others) == 0 and video.others_lost == lost


def test_a_person_blazepose_misses_is_handed_to_the_optical_flow():
    """Of two people BlazePose follows, it finds the second no more in their ROI: they are
    followed by the optical flow from then on, from where they were given last, moving as
    their ROI did, and looked for again in their ROI, moved alike; found there again, they
    leave the flow."""
    from types import SimpleNamespace

    from multipose.codecs.blazepose import BlazePoseCodec
    from multipose.pipelines.blazepose import Landmarks

    rng = np.random.default_rng(0)
    landmarks = np.ones((2, 39, 5))
    landmarks[:, :, :2] = rng.uniform(0, 100, (2, 39, 2)) + [[[100, 100]], [[400, 100]]]

    def found_in(image, rois):
        return Landmarks(landmarks, np.array([0.9, 0.2]), np.zeros((2, 10, 10), bool))

    settings = SimpleNamespace(presence=0.5, duplicate_oks=0.5, duplicate_mask=0.5)
    blazepose = SimpleNamespace(
        spec=None, _landmarks=found_in, codec=BlazePoseCodec(), settings=settings
    )
    video = VideoMode(blazepose)
    video.rois, video.ids = np.array([[150, 150, 120, 0.0], [450, 150, 120, 0.0]]), np.array([3, 7])
    video.offsets, video.motion = np.zeros((2, 33, 2)), np.array([[1.0, 0.0], [5.0, -1.0]])
    video.misses = np.zeros(2, int)
    last = BlazePoseCodec().poses(landmarks, np.ones(2))  # as given on the last frame
    video.last = Poses(last.keypoints, last.scores, last.layout, None, np.array([3, 7]))
    people = video._follow(np.zeros((300, 600, 3), np.uint8))
    assert people.track_ids.tolist() == [3]
    assert video.ids.tolist() == [3, 7] and video.misses.tolist() == [0, 1]  # looked for again
    np.testing.assert_allclose(video.rois[1], [455, 149, 120, 0.0])  # where their ROI went
    assert video.others.track_ids.tolist() == [7] and video.other_misses.tolist() == [0]
    np.testing.assert_array_equal(video.others.keypoints, video.last.keypoints[1:])
    assert video.other_motion.tolist() == [[5.0, -1.0]]  # as their ROI moved last
    video.last, video.motion[:] = people, 0.0  # both still from here on
    blazepose._landmarks = lambda image, rois: Landmarks(
        landmarks, np.ones(2), np.zeros((2, 10, 10), bool)
    )
    again = video._follow(np.zeros((300, 600, 3), np.uint8))
    assert again.track_ids.tolist() == [3, 7] and len(video.others) == 0


def test_one_the_full_pass_found_again_is_not_looked_for_in_their_roi():
    """On a full pass, a person followed whom its BlazePose found again (alike to how they were
    given on the last frame, moved as their ROI moved) takes those landmarks: no crop of their
    ROI, and they are followed on from the ROI of those landmarks; the others are looked for
    in their ROIs."""
    from types import SimpleNamespace

    from multipose.codecs.blazepose import BlazePoseCodec, rois_from_alignment
    from multipose.pipelines.blazepose import Landmarks

    rng = np.random.default_rng(0)
    landmarks = np.ones((2, 39, 5))
    landmarks[:, :, :2] = rng.uniform(0, 100, (2, 39, 2)) + [[[100, 100]], [[400, 100]]]
    codec, looked_in = BlazePoseCodec(), []

    def found_in(image, rois):
        looked_in.append(rois.copy())
        return Landmarks(landmarks[1:], np.ones(1), np.zeros((1, 10, 10), bool))

    again = landmarks[:1].copy()
    again[..., :2] += [3.0, 0.0]  # moved on as their ROI last moved
    settings = SimpleNamespace(presence=0.5, duplicate_oks=0.5, duplicate_mask=0.5)
    blazepose = SimpleNamespace(
        spec=None,
        _landmarks=found_in,
        codec=codec,
        settings=settings,
        found=Landmarks(again, np.ones(1), np.zeros((1, 10, 10), bool)),
    )
    video = VideoMode(blazepose)
    video.rois, video.ids = np.array([[150, 150, 120, 0.0], [450, 150, 120, 0.0]]), np.array([3, 7])
    video.offsets, video.motion = np.zeros((2, 33, 2)), np.array([[3.0, 0.0], [0.0, 0.0]])
    video.misses = np.zeros(2, int)
    last = codec.poses(landmarks, np.ones(2))
    video.last = Poses(last.keypoints, last.scores, last.layout, None, np.array([3, 7]))
    rows, used = video._found_again()
    assert rows.tolist() == [0] and used.tolist() == [0]
    people = video._follow(np.zeros((300, 600, 3), np.uint8), rows, blazepose.found.select(used))
    assert people.track_ids.tolist() == [3, 7]
    assert len(looked_in) == 1 and looked_in[0].tolist() == [[450, 150, 120, 0.0]]
    np.testing.assert_allclose(people.keypoints[0, :, :2], again[0, :33, :2])
    np.testing.assert_allclose(
        video.rois[0], rois_from_alignment(again[:, 33, :2], again[:, 34, :2])[0]
    )


def test_a_person_a_full_pass_found_twice_is_followed_once():
    """Of a full pass's new people, one alike above TWICE to a person it found whom BlazePose
    follows is not followed apart, nor one alike to a surer new one; where one of the two is
    followed by the flow already, that one is kept, however less sure."""
    from multipose.pipelines.video_mode import _once

    rng = np.random.default_rng(0)
    kp = np.ones((4, 17, 3), np.float32)
    kp[:, :, :2] = rng.uniform(0, 80, (1, 17, 2)) + np.array([0, 1, 200, 201])[:, None, None]
    people = flow_people(kp, [10, 11, 12, 13])  # 10, 11 alike; 12, 13 alike
    people = Poses(
        people.keypoints, np.array([0.9, 0.5, 0.9, 0.5]), people.layout, None, people.track_ids
    )
    known = people[[0]]  # 10: BlazePose follows them
    none = flow_people(kp[:0], [])
    assert _once(people[1:], known, none).track_ids.tolist() == [12]  # 11 twice; 13 less sure
    assert _once(people[1:], known, flow_people(kp[3:], [13])).track_ids.tolist() == [13]
    assert _once(people[2:], people[:0], none).track_ids.tolist() == [12]


def test_blazepose_drifted_onto_a_person_the_flow_follows_the_flow_keeps_them():
    """Between full passes, a person BlazePose follows alike above TWICE to one the flow follows
    is BlazePose's ROI drifted onto the flow's person: the flow follows that person on under
    its id, BlazePose's own person goes to the flow as given on the last frame, and BlazePose
    follows them no more; a person BlazePose follows alike to no one stays."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    kp = np.ones((4, 17, 3), np.float32)
    kp[:, :, :2] = rng.uniform(0, 80, (1, 17, 2)) + np.array([0, 1, 300, 150])[:, None, None]
    video = VideoMode(SimpleNamespace(spec=None))
    video.rois, video.ids = np.arange(8.0).reshape(2, 4), np.array([1, 2])
    video.misses, video.motion = np.zeros(2, int), np.zeros((2, 2))
    video.offsets = np.zeros((2, 33, 2))
    video.last = flow_people(kp[[3, 2]], [1, 2])  # 1 was elsewhere on the last frame
    video._to_flow(flow_people(kp[1:2], [6]))
    people, flown = video._once_each(flow_people(kp[[0, 2]], [1, 2]), video.others)
    assert people.track_ids.tolist() == video.ids.tolist() == [2]
    np.testing.assert_array_equal(video.rois, [[4.0, 5.0, 6.0, 7.0]])
    assert len(video.offsets) == len(video.motion) == len(video.misses) == 1
    assert flown.track_ids.tolist() == [6] and video.others.track_ids.tolist() == [6, 1]
    np.testing.assert_array_equal(video.others.keypoints[1], video.last.keypoints[0])


def test_blazepose_finding_someone_else_in_a_roi_is_a_miss():
    """BlazePose's find in the ROI of a person seen on the last frame that is not alike to them
    (above KEPT, as given then, moved as their ROI moved) is someone else (the ROI drifted, a
    bar covering them, say): a miss, handed to the flow; a find where expected is them."""
    from types import SimpleNamespace

    from multipose.codecs.blazepose import BlazePoseCodec
    from multipose.pipelines.blazepose import Landmarks

    rng = np.random.default_rng(0)
    landmarks = np.ones((2, 39, 5))
    landmarks[:, :, :2] = rng.uniform(0, 100, (2, 39, 2)) + [[[100, 100]], [[400, 100]]]
    codec = BlazePoseCodec()
    last = codec.poses(landmarks, np.ones(2))
    found = landmarks.copy()
    found[0, :, :2] += [2.0, 0.0]  # moved on as their ROI moved
    found[1, :, :2] += [90.0, 0.0]  # someone beside them
    blazepose = SimpleNamespace(
        spec=None,
        _landmarks=lambda image, rois: Landmarks(found, np.ones(2), np.zeros((2, 10, 10), bool)),
        codec=codec,
        settings=SimpleNamespace(presence=0.5, duplicate_oks=0.5, duplicate_mask=0.5),
    )
    video = VideoMode(blazepose)
    video.rois, video.ids = np.array([[150, 150, 120, 0.0], [450, 150, 120, 0.0]]), np.array([3, 7])
    video.offsets, video.motion = np.zeros((2, 33, 2)), np.array([[2.0, 0.0], [0.0, 0.0]])
    video.misses = np.zeros(2, int)
    video.last = Poses(last.keypoints, last.scores, last.layout, None, np.array([3, 7]))
    assert video._follow(np.zeros((300, 600, 3), np.uint8)).track_ids.tolist() == [3]
    assert video.misses.tolist() == [0, 1] and video.others.track_ids.tolist() == [7]


def test_two_rois_on_one_person_the_one_seen_last_frame_keeps_them():
    """Two ROIs BlazePose finds one person in: the ROI of a person seen on the last frame keeps
    them, not an older person's ROI looked in again after a miss (it drifted onto them)."""
    from types import SimpleNamespace

    from multipose.codecs.blazepose import BlazePoseCodec
    from multipose.pipelines.blazepose import Landmarks

    rng = np.random.default_rng(0)
    landmarks = np.ones((2, 39, 5))
    landmarks[:, :, :2] = rng.uniform(0, 100, (1, 39, 2)) + 100  # one person, twice
    masks = np.ones((2, 10, 10), bool)
    settings = SimpleNamespace(presence=0.5, duplicate_oks=0.5, duplicate_mask=0.5)
    blazepose = SimpleNamespace(
        spec=None,
        _landmarks=lambda image, rois: Landmarks(landmarks, np.ones(2), masks),
        codec=BlazePoseCodec(),
        settings=settings,
    )
    for misses, kept in (([1, 0], [7]), ([0, 0], [3])):  # 3 missed last frame; else oldest
        video = VideoMode(blazepose)
        video.rois = np.array([[150, 150, 120, 0.0], [160, 150, 120, 0.0]])
        video.ids, video.misses, video.next_id = np.array([3, 7]), np.array(misses), 8
        video.offsets, video.motion = np.zeros((2, 33, 2)), np.zeros((2, 2))
        assert video._follow(np.zeros((300, 600, 3), np.uint8)).track_ids.tolist() == kept


def test_a_full_pass_gives_its_people_the_ids_of_those_followed():
    """Found people take the id of the one followed most alike to them (above SAME, each id
    once, the most alike first); one alike to a person BlazePose follows and to one the flow
    follows (one person followed twice) takes BlazePose's id even if less alike; the rest
    get new ids."""
    from multipose.pipelines.video_mode import found_ids

    followed = np.array([4, 9, 7])  # BlazePose follows 4 and 9, the flow 7
    similar = np.array(
        [
            [0.8, 0.0, 0.0],  # 4
            [0.0, 0.4, 0.9],  # 9 (BlazePose's), though more alike to 7
            [0.7, 0.0, 0.0],  # 4 is taken by a more alike one: new
            [0.1, 0.0, 0.2],  # alike to none: new
        ]
    )
    assert found_ids(similar, followed, 2, 20).tolist() == [4, 9, 22, 23]
    assert found_ids(similar, followed, 0, 20).tolist() == [4, 7, 22, 23]  # all by the flow
    assert found_ids(np.zeros((2, 0)), followed[:0], 0, 5).tolist() == [5, 6]


def test_a_person_the_flow_follows_stays_followed_through_a_full_pass_missing_them():
    """A full pass that does not find a person the optical flow follows (hidden for that frame,
    say) does not drop them: people found once are not lost for one frame's bad detection."""
    import cv2

    from multipose.codecs.blazepose import BlazePoseCodec
    from multipose.pipelines.blazepose import Landmarks

    class NobodyFound:
        spec, settings, timing = None, None, {"network_ms": 0.0, "decode_ms": 0.0}
        _network_s, codec, found = 0.0, BlazePoseCodec(), Landmarks.none((30, 40))

        def __call__(self, image, image_id=None):
            return Poses.empty(BLAZEPOSE33)

    noise = np.random.default_rng(0).integers(0, 256, (120, 160, 3)).astype(np.uint8)
    frame = cv2.GaussianBlur(noise, (0, 0), 2)
    kp = np.ones((1, 17, 3), np.float32)
    kp[0, :, :2] = np.random.default_rng(1).uniform(40, 80, (17, 2))
    video = VideoMode(NobodyFound())
    video._to_flow(flow_people(kp, [5]))
    video.grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    assert len(video(frame)) == 0 and video.full_passes == 1  # a full pass: nobody found
    assert video.others.track_ids.tolist() == [5]  # still followed
    assert video(frame).track_ids.tolist() == [5]  # and given on the next frame
