"""The HTTP API of `multipose serve` through the app's test client: real answers of the default
model on a real photo, every error status, the queue's bounds and time limit, the temporary
folder left empty, and a bounded load test on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
import httpx
from fastapi.testclient import TestClient
from PIL import Image

import multipose
from multipose.io.media import VideoWriter, read_image
from multipose.serve import Limits, create_app
from multipose.specs import SPECS

from conftest import threads_kept

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
SKI = PHOTOS / "ski.jpg"
LIMITS = Limits(image_bytes=400_000, video_bytes=2_000_000, pixels=1_000_000, frames=8)


@pytest.fixture(scope="module", autouse=True)
def _threads() -> Iterator[None]:
    """The app sets torch's and OpenCV's threads for the whole process: restored after."""
    with threads_kept():
        yield


@pytest.fixture(scope="module")
def client():
    if not SKI.is_file():
        pytest.skip("../shared/data/photos is not beside the checkout")
    with TestClient(create_app(limits=LIMITS)) as client:
        yield client


def post(client: TestClient, data: bytes, name: str = "ski.jpg", **params) -> httpx.Response:
    return client.post("/v1/poses", params=params, files={"image": (name, data)})


@pytest.fixture(scope="module")
def ski_answer(client: TestClient) -> dict:
    response = post(client, SKI.read_bytes())
    assert response.status_code == 200, response.text
    return response.json()


def png(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, "PNG")
    return out.getvalue()


def test_the_answer_is_the_default_models_people(ski_answer: dict) -> None:
    pipeline = multipose.load()
    expected = pipeline(read_image(SKI))
    assert ski_answer["model"] == multipose.DEFAULT_MODEL
    assert ski_answer["image"] == {"name": "ski.jpg", "width": 712, "height": 674}
    assert ski_answer["layout"] == ski_answer["skeleton"]["layout"] == "blazepose33"
    people = ski_answer["people"]
    assert len(people) == len(expected) == 5
    np.testing.assert_allclose([p["keypoints"] for p in people], expected.keypoints, atol=2e-3)
    np.testing.assert_allclose([p["score"] for p in people], expected.scores, atol=1e-4)
    for person in people:
        x0, y0, x1, y1 = person["box"]
        found = np.array(person["keypoints"])
        found = found[found[:, 2] > 0]
        assert x0 - 0.01 <= found[:, 0].min() and found[:, 0].max() <= x1 + 0.01
        assert y0 - 0.01 <= found[:, 1].min() and found[:, 1].max() <= y1 + 0.01
    assert len(ski_answer["skeleton"]["keypoints"]) == 33
    timings = ski_answer["timings"]
    assert timings["network_ms"] > 0
    assert timings["total_ms"] >= timings["network_ms"] + timings["decode_ms"]


def test_the_other_forms_are_the_packages_own(client: TestClient, ski_answer: dict) -> None:
    openpose = post(client, SKI.read_bytes(), format="openpose").json()
    assert openpose == ski_answer["openpose"]
    assert len(openpose["people"]) == 5
    assert all(len(p["pose_keypoints_2d"]) == 25 * 3 for p in openpose["people"])  # body25
    coco = ski_answer["coco"]
    assert [entry["image_id"] for entry in coco] == [0] * 5  # no number in the name
    assert all(len(entry["keypoints"]) == 17 * 3 for entry in coco)


def test_options_layout_and_min_score(client: TestClient, ski_answer: dict) -> None:
    scores = sorted(p["score"] for p in ski_answer["people"])
    cut = (scores[1] + scores[2]) / 2
    answer = post(client, SKI.read_bytes(), layout="coco17", min_score=cut).json()
    assert answer["layout"] == "coco17"
    assert len(answer["people"]) == 3
    assert all(p["score"] >= cut and len(p["keypoints"]) == 17 for p in answer["people"])
    coco = post(client, SKI.read_bytes(), "000000397133.jpg", format="coco").json()
    assert {entry["image_id"] for entry in coco} == {397133}


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"min_score": 2}, "min_score"),
        ({"min_score": "high"}, "min_score"),
        ({"flip": "maybe"}, "flip"),
        ({"layout": "hands"}, "hands"),
        ({"format": "xml"}, "format"),
        ({"model": "nope"}, "nope"),
        ({"format": "openpose", "layout": "coco17"}, "coco17"),
    ],
)
def test_bad_options_are_422(client: TestClient, params: dict, names: str) -> None:
    response = post(client, SKI.read_bytes(), **params)
    assert response.status_code == 422
    assert names in response.json()["error"]


def test_bad_uploads(client: TestClient) -> None:
    text = post(client, b"just some notes\n", "notes.txt")
    assert text.status_code == 415
    assert text.json()["error"].startswith("notes.txt: not an image")
    truncated = post(client, SKI.read_bytes()[:20_000], "cut.jpg")
    assert truncated.status_code == 422
    assert truncated.json()["error"].startswith("cut.jpg: ")
    assert "/" not in truncated.json()["error"]  # the temporary path is not shown
    assert post(client, b"", "empty.jpg").status_code == 422
    assert client.post("/v1/poses").status_code == 422  # no file
    noise = np.random.default_rng(0).integers(0, 256, (380, 380, 3), np.uint8)
    big = post(client, png(noise), "noise.png")  # over image_bytes
    assert big.status_code == 413
    assert "noise.png" in big.json()["error"]
    huge = client.post(
        "/v1/poses", files={"image": ("huge.png", b"x" * (LIMITS.image_bytes + 2**17))}
    )
    assert huge.status_code == 413  # refused by its Content-Length
    wide = post(client, png(np.zeros((800, 1300, 3), np.uint8)), "wide.png")  # over pixels
    assert wide.status_code == 413
    assert "1300x800" in wide.json()["error"]
    chunked = client.post(
        "/v1/poses", content=iter([b"--x\r\n"]), headers={"content-type": "multipart/form-data"}
    )
    assert chunked.status_code == 411
    assert client.get("/v1/nothing").status_code == 404


def test_it_keeps_serving_and_leaves_no_files(client: TestClient) -> None:
    for data in (b"not an image", SKI.read_bytes()[:1000]):
        post(client, data, "bad.jpg")
    assert client.get("/healthz").json()["status"] == "ok"
    answer = post(client, SKI.read_bytes(), flip="true")
    assert answer.status_code == 200
    assert len(answer.json()["people"]) >= 4
    assert list(client.app.state.scratch.iterdir()) == []


def test_models_and_schema(client: TestClient) -> None:
    models = client.get("/v1/models").json()
    assert models["default"] == multipose.DEFAULT_MODEL
    assert [m["name"] for m in models["models"]] == [multipose.DEFAULT_MODEL]
    assert models["models"][0]["openpose_layout"] == "body25"
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/poses", "/v1/poses/video", "/v1/models", "/healthz"} <= set(paths)
    assert client.get("/docs").status_code == 404  # FastAPI's page would load a CDN's scripts
    page = client.get("/")
    assert page.status_code == 200
    assert '<canvas id="canvas"' in page.text
    assert "//" not in page.text.replace("http://", "")  # nothing from elsewhere
    assert client.get("/static/app.js").status_code == 200


def clip(path: Path, frames: int, shift: int = 4) -> Path:
    """A clip of ski.jpg panning `shift` pixels per frame."""
    image = read_image(SKI)
    writer = VideoWriter(path, 10.0)
    for n in range(frames):
        writer.write(np.ascontiguousarray(image[:640, n * shift : n * shift + 640]))
    writer.close()
    return path


def test_video_people_keep_their_ids(client: TestClient, tmp_path: Path) -> None:
    video = clip(tmp_path / "pan.avi", 3)
    response = client.post(
        "/v1/poses/video",
        files={"video": ("pan.avi", video.read_bytes())},
        params={"layout": "coco18"},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["video"] == {"name": "pan.avi", "width": 640, "height": 640, "frames": 3}
    frames = answer["frames"]
    assert [f["frame"] for f in frames] == [0, 1, 2]
    ids = [sorted(p["id"] for p in frame["people"]) for frame in frames]
    assert all(len(set(frame)) == len(frame) for frame in ids)
    # nobody moves far: at least four people keep their ids throughout, and no one new comes
    assert len(set(ids[0]) & set(ids[1]) & set(ids[2])) >= 4
    assert set(ids[1]) | set(ids[2]) <= set(ids[0])
    assert all(len(p["keypoints"]) == 18 for f in frames for p in f["people"])
    header, data = answer["overlay"].split(",", 1)
    assert header == "data:video/webm;base64"
    overlay = tmp_path / "overlay.webm"
    overlay.write_bytes(base64.b64decode(data))
    capture = cv2.VideoCapture(str(overlay))
    read = 0
    while capture.read()[0]:
        read += 1
    assert read == 3
    assert list(client.app.state.scratch.iterdir()) == []


def test_bad_videos(client: TestClient, tmp_path: Path) -> None:
    text = client.post("/v1/poses/video", files={"video": ("clip.mp4", b"no video here")})
    assert text.status_code == 415
    assert text.json()["error"].startswith("clip.mp4: not a video")
    long = clip(tmp_path / "long.avi", LIMITS.frames + 1, shift=0)
    response = client.post("/v1/poses/video", files={"video": ("long.avi", long.read_bytes())})
    assert response.status_code == 413
    assert f"over the limit of {LIMITS.frames}" in response.json()["error"]


def test_a_full_queue_is_503_and_a_late_answer_504() -> None:
    if not SKI.is_file():
        pytest.skip("../shared/data/photos is not beside the checkout")
    app = create_app(workers=1, queue=1, limits=replace(LIMITS, image_seconds=0.05))
    with TestClient(app) as client:
        answers: list[httpx.Response] = []
        first = threading.Thread(target=lambda: answers.append(post(client, SKI.read_bytes())))
        first.start()
        while client.get("/healthz").json()["queue"]["pending"] == 0:
            time.sleep(0.005)
        busy = post(client, SKI.read_bytes())
        first.join()
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        assert answers[0].status_code == 504  # the estimate takes longer than 50 ms
        assert "time limit" in answers[0].json()["error"]
        deadline = time.monotonic() + 60
        while client.get("/healthz").json()["queue"]["pending"] and time.monotonic() < deadline:
            time.sleep(0.05)  # the late estimate still holds its place until it ends
        assert client.get("/healthz").json()["queue"]["pending"] == 0


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc (Linux)")
def test_load_on_localhost(record_property) -> None:
    """8 clients x 20 requests at a uvicorn server on 127.0.0.1 (a small MobileNet-thin input,
    so that the test is quick): no request fails, the resident memory stays flat."""
    import uvicorn

    if not SKI.is_file():
        pytest.skip("../shared/data/photos is not beside the checkout")
    small = SPECS["openpose-mobilenet-thin"].with_input(height=96)
    app = create_app([small], workers=2, queue=8)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, "127.0.0.1", port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        image = cv2.imencode(".jpg", read_image(SKI)[::4, ::4, ::-1])[1].tobytes()
        url = f"http://127.0.0.1:{port}/v1/poses"
        statuses: list[int] = []
        latencies: list[float] = []

        def client(requests: int) -> None:
            with httpx.Client(timeout=120) as http:
                for _ in range(requests):
                    start = time.perf_counter()
                    response = http.post(url, files={"image": ("ski.jpg", image)})
                    latencies.append(time.perf_counter() - start)
                    statuses.append(response.status_code)

        def round_of(requests: int) -> None:
            clients = [threading.Thread(target=client, args=(requests,)) for _ in range(8)]
            for c in clients:
                c.start()
            for c in clients:
                c.join()

        round_of(5)  # warm up: memory after 40 requests
        before = _rss_mb()
        round_of(15)
        after = _rss_mb()
    finally:
        server.should_exit = True
        thread.join()
    p95 = float(np.percentile(latencies, 95)) * 1000
    print(f"\n160 requests, p95 {p95:.0f} ms, RSS {before:.0f} -> {after:.0f} MB")
    record_property("p95_ms", round(p95))
    record_property("rss_growth_mb", round(after - before, 1))
    assert statuses == [200] * 160
    assert after - before < 25, f"resident memory grew {after - before:.0f} MB"


def test_the_command_refuses_an_unknown_model() -> None:
    from click.testing import CliRunner

    from multipose.cli import main

    result = CliRunner().invoke(main, ["serve", "--model", "nope", "--port", "0"])
    assert result.exit_code == 1
    assert "unknown model 'nope'" in result.output
