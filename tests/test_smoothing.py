import numpy as np

from multipose.data.synthetic import make_scene
from multipose.poses import Poses
from multipose.smoothing import OneEuro, TwoWayOneEuro


def frames(velocity: float, noise: float, n: int = 60, seed: int = 0) -> tuple[list, Poses]:
    """One tracked person moving right at `velocity` px per frame, keypoints shaken by `noise`."""
    person = make_scene(1, 640, 480, seed=4, p_missing=0.0, max_iou=0.0).poses
    rng = np.random.default_rng(seed)
    out = []
    for frame in range(n):
        kp = person.keypoints.copy()
        kp[..., 0] += velocity * frame
        kp[..., :2] += rng.normal(0, noise, kp[..., :2].shape)
        out.append(Poses(kp, layout=person.layout, track_ids=[7]))
    return out, person


def test_keypoints_at_rest_shake_far_less_and_stay_put():
    noisy, truth = frames(0.0, 2.0)
    smooth = OneEuro()
    out = np.stack([smooth(p, t / 30).keypoints[0, :, :2] for t, p in enumerate(noisy)])
    raw = np.stack([p.keypoints[0, :, :2] for p in noisy])
    shake = lambda xy: np.abs(np.diff(xy[10:], 2, axis=0)).mean()  # noqa: E731
    assert shake(out) < shake(raw) / 2  # the centre, a mean of 17, is passed through
    assert np.abs(out[30:] - truth.keypoints[0, :, :2]).mean() < 1.5


def test_fast_motion_is_followed_with_little_lag():
    moving, _ = frames(20.0, 0.0)
    smooth = OneEuro()
    out = [smooth(p, t / 30) for t, p in enumerate(moving)]
    lag = moving[-1].keypoints[0, :, 0] - out[-1].keypoints[0, :, 0]
    assert np.abs(lag).mean() < 20.0  # under one frame of motion


def test_a_keypoint_found_again_restarts_and_ids_are_smoothed_apart():
    noisy, _ = frames(0.0, 0.0, n=3)
    smooth = OneEuro()
    smooth(noisy[0], 0.0)
    k = int(np.flatnonzero(noisy[0].keypoints[0, :, 2] > 0)[0])
    gone = noisy[1].keypoints.copy()
    gone[0, k] = 0
    assert smooth(Poses(gone, layout=noisy[1].layout, track_ids=[7]), 0.033).keypoints[0, k, 2] == 0
    back = noisy[2].keypoints.copy()
    back[0, k, :2] += 50
    out = smooth(Poses(back, layout=noisy[2].layout, track_ids=[7]), 0.066)
    np.testing.assert_allclose(out.keypoints[0, k, :2], back[0, k, :2], atol=1e-3)
    other = smooth(Poses(back, layout=noisy[2].layout, track_ids=[8]), 0.066)
    np.testing.assert_allclose(other.keypoints, back, atol=1e-3)  # a new track starts raw


def test_a_keypoint_found_astray_does_not_drag_the_others():
    still, _ = frames(0.0, 0.0, n=11)
    smooth = OneEuro()
    for t, p in enumerate(still[:10]):
        before = smooth(p, t / 30).keypoints[0]
    astray = still[10].keypoints.copy()
    k = int(np.flatnonzero(astray[0, :, 2] > 0)[0])
    astray[0, k, :2] += 80.0  # one keypoint jumps; a plain mean would shift the body 80/17 px
    after = smooth(Poses(astray, layout=still[10].layout, track_ids=[7]), 10 / 30).keypoints[0]
    others = np.arange(len(after)) != k
    assert np.abs(after[others, :2] - before[others, :2]).max() < 0.5


def test_a_limb_moving_on_a_still_body_is_followed_within_a_frame():
    still, _ = frames(0.0, 0.0, n=30)
    smooth = OneEuro()
    k = int(np.flatnonzero(still[0].keypoints[0, :, 2] > 0)[-1])
    for t, p in enumerate(still):
        moved = p.keypoints.copy()
        moved[0, k, 0] += 10.0 * t  # one keypoint (a wrist, say) moves 10 px a frame
        out = smooth(Poses(moved, layout=p.layout, track_ids=[7]), t / 30).keypoints[0]
    assert abs(moved[0, k, 0] - out[k, 0]) < 10.0
    others = np.arange(len(out)) != k
    np.testing.assert_allclose(out[others, :2], still[0].keypoints[0, others, :2], atol=0.5)


def test_a_one_frame_jump_of_the_whole_body_is_spread_but_a_start_is_followed():
    still, _ = frames(0.0, 0.0, n=40)
    found = still[0].keypoints[..., 2:] > 0
    smooth = OneEuro()
    for t, p in enumerate(still[:20]):
        jump = 12.0 if t == 10 else 0.0  # the whole person 12 px off for one frame
        kp = p.keypoints + np.array([jump, 0.0, 0.0], np.float32) * found
        out = smooth(Poses(kp, layout=p.layout, track_ids=[7]), t / 30).keypoints
        if t == 10:
            assert np.abs(out[0, :, 0] - p.keypoints[0, :, 0]).max() < 9.0  # not 12
    lags = []
    for t, p in enumerate(still[20:], 20):  # the body starts walking 20 px a frame
        kp = p.keypoints + np.array([20.0 * (t - 20), 0.0, 0.0], np.float32) * found
        out = smooth(Poses(kp, layout=p.layout, track_ids=[7]), t / 30).keypoints
        lags.append(np.abs(kp[0, :, 0] - out[0, :, 0]).max())
    assert max(lags) < 10.0 and lags[-1] < 0.5  # under half a frame, then none


def test_a_person_missing_for_frames_starts_afresh_when_seen_again():
    """A track missing from frames (occluded, not found) is seen again where it has moved
    meanwhile: its keypoints come out as found, not dragged by where the body was going."""
    moving, _ = frames(10.0, 0.0, n=30)
    smooth = OneEuro()
    for t in range(15):
        smooth(moving[t], t / 30)
    nobody = Poses(moving[0].keypoints[:0], layout=moving[0].layout, track_ids=[])
    for t in range(15, 19):  # nobody found in these frames
        smooth(nobody, t / 30)
    back = smooth(moving[19], 19 / 30)
    np.testing.assert_allclose(back.keypoints, moving[19].keypoints, atol=1e-3)
    after = smooth(moving[20], 20 / 30)  # and smoothed again from there
    assert np.abs(after.keypoints[0, :, 0] - moving[20].keypoints[0, :, 0]).mean() < 10.0


def test_a_jump_of_the_whole_body_beyond_a_tenth_of_its_height_starts_afresh():
    """A person found anew in one frame (another track's person, or a full pass correcting
    video mode's keypoints) comes out where found; a smaller jump (wobble) is spread."""
    still, _ = frames(0.0, 0.0, n=12)
    found = still[0].keypoints[0, :, 2] > 0
    height = np.ptp(still[0].keypoints[0, found, 1])
    for jump, spread in ((0.3 * height, False), (0.05 * height, True)):
        smooth = OneEuro()
        for t, p in enumerate(still[:11]):
            smooth(p, t / 30)
        kp = still[11].keypoints.copy()
        kp[0, found, 0] += jump
        out = smooth(Poses(kp, layout=still[11].layout, track_ids=[7]), 11 / 30).keypoints
        moved = np.abs(out[0, found, 0] - still[11].keypoints[0, found, 0])
        assert (moved.max() < 0.8 * jump) == spread


def test_both_ways_frames_come_out_late_in_order_and_all_at_the_end():
    noisy, _ = frames(3.0, 1.0, n=12)
    smooth = TwoWayOneEuro(lag=5)
    out = []
    for t, people in enumerate(noisy):
        done = smooth.push(t, people, t / 30)
        assert [item for item, _ in done] == ([t - 5] if t >= 5 else [])
        out += done
    out += smooth.flush()
    assert [item for item, _ in out] == list(range(12)) and not smooth.flush()
    assert all(p.track_ids.tolist() == [7] for _, p in out)


def test_both_ways_a_limb_is_followed_without_the_forward_filters_lag():
    person = make_scene(1, 640, 480, seed=4, p_missing=0.0, max_iou=0.0).poses
    rng, wrist = np.random.default_rng(0), 10
    shaken, truth = [], []
    for t in range(90):  # the wrist swings 40 px up and down once a second, the body is still
        kp = person.keypoints.copy()
        kp[0, wrist, 1] += 40 * np.sin(2 * np.pi * t / 30)
        truth.append(kp[0, :, :2].copy())
        kp[..., :2] += rng.normal(0, 1.0, kp[..., :2].shape)
        shaken.append(Poses(kp, layout=person.layout, track_ids=[7]))
    forward, both = OneEuro(), TwoWayOneEuro()
    ahead = [forward(p, t / 30) for t, p in enumerate(shaken)]
    out = [p for t, people in enumerate(shaken) for _, p in both.push(t, people, t / 30)]
    out += [p for _, p in both.flush()]
    xy = lambda poses, k: np.stack([p.keypoints[0, k, :2] for p in poses])[20:80]  # noqa: E731
    error = lambda poses: np.abs(xy(poses, wrist) - np.stack(truth)[20:80, wrist]).mean()  # noqa: E731
    assert error(out) < error(ahead) / 2  # forward: ~3.3 px behind the swing, both ways ~0.9
    still = [k for k in range(17) if k != wrist and person.keypoints[0, k, 2] > 0]
    shake = lambda a: np.abs(np.diff(a, 2, axis=0)).mean()  # noqa: E731
    assert shake(xy(out, still)) < shake(xy(shaken, still)) / 2
