"""The page of `multipose serve` in a real browser: Debian's headless Chromium driven by
Playwright, against a uvicorn server of the default model on 127.0.0.1 (one model load, one
server and browser for the module).

With MULTIPOSE_SCREENSHOT=PATH the page with ski.jpg's people drawn is also saved at PATH (the
README's screenshot: docs/serve.png)."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from conftest import threads_kept

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
uvicorn = pytest.importorskip("uvicorn")
playwright = pytest.importorskip("playwright.sync_api")

from multipose.io.media import VideoWriter, read_image  # noqa: E402
from multipose.serve import create_app  # noqa: E402

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
SKI = PHOTOS / "ski.jpg"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WAIT_MS = 180_000  # a busy CI machine may take long over the first estimate


@pytest.fixture(scope="module", autouse=True)
def _threads() -> Iterator[None]:
    """The app sets torch's and OpenCV's threads for the whole process: restored after."""
    with threads_kept():
        yield


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    if not SKI.is_file():
        pytest.skip("../shared/data/photos is not beside the checkout")
    if not Path(CHROMIUM).is_file():
        pytest.skip("no chromium (scripts/setup.sh installs Debian's as root)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(), "127.0.0.1", port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join()


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator:
    with playwright.sync_playwright() as driver:
        fake_camera = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-dev-shm-usage", *fake_camera],  # root, containers
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server: str) -> Iterator:
    context = browser.new_context(viewport={"width": 1100, "height": 700}, accept_downloads=True)
    page = context.new_page()
    page.goto(server)
    page.wait_for_selector("#model option", state="attached")
    yield page
    context.close()


def upload(page, *paths: Path) -> None:
    page.set_input_files("#files", [str(path) for path in paths])
    page.wait_for_function("document.body.dataset.state === 'done'", timeout=WAIT_MS)


def canvas_pixels(page) -> np.ndarray:
    """The canvas as RGB, through a lossless PNG."""
    url = page.evaluate("document.getElementById('canvas').toDataURL('image/png')")
    data = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def downloaded(page, button: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.click(button)
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def test_a_photo_is_drawn_listed_and_downloaded(page, server: str, tmp_path: Path) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    upload(page, SKI)
    assert page.inner_text("#status").startswith("ski.jpg: 5 people")
    assert page.locator("#people tbody tr").count() == 5

    drawn = canvas_pixels(page)
    assert drawn.shape == (674, 712, 3)
    page.fill("#threshold", "1")  # above every score: the people vanish, no new request
    bare = canvas_pixels(page)
    changed = np.abs(drawn.astype(int) - bare).sum(axis=2) > 30
    assert changed.sum() > 2000  # limbs, keypoints, boxes and labels of five people
    original = np.asarray(Image.open(SKI).convert("RGB"), np.int16)
    assert np.abs(bare - original).mean() < 3  # the photo itself, under the overlay
    assert page.locator("#people tbody tr.hidden").count() == 5
    page.fill("#threshold", "0.2")
    assert np.array_equal(canvas_pixels(page), drawn)
    assert sum("/v1/poses" in url for url in requests) == 1

    if target := os.environ.get("MULTIPOSE_SCREENSHOT"):
        shot = tmp_path / "page.png"
        page.screenshot(path=str(shot))
        Image.open(shot).convert("RGB").quantize(128).save(target, optimize=True)

    name, data = downloaded(page, "#download-openpose")
    assert name == "ski_keypoints.json"
    with httpx.Client(base_url=server, timeout=WAIT_MS / 1000) as http:
        files = {"image": ("ski.jpg", SKI.read_bytes())}
        openpose = http.post("/v1/poses", params={"format": "openpose"}, files=files).json()
        coco = http.post("/v1/poses", params={"format": "coco"}, files=files).json()
    assert json.loads(data) == openpose
    name, data = downloaded(page, "#download-coco")
    assert name == "coco_results.json"
    assert json.loads(data) == coco
    name, data = downloaded(page, "#download-png")
    assert name == "ski_rendered.png"
    (tmp_path / name).write_bytes(data)
    overlay = np.asarray(Image.open(tmp_path / name).convert("RGB"))
    assert np.array_equal(overlay, drawn)


def test_several_files_and_a_readable_error(page, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo\n")
    upload(page, notes, SKI)
    queue = page.locator("#queue li")
    assert queue.all_inner_texts() == ["notes.txt", "ski.jpg"]
    assert page.locator("#queue li.failed").all_inner_texts() == ["notes.txt"]
    assert page.inner_text("#status").startswith("ski.jpg: 5 people")  # the first one found
    queue.first.click()
    status = page.locator("#status")
    assert status.inner_text() == "notes.txt: not an image (JPEG, PNG, WebP, BMP or TIFF)"
    assert "error" in status.get_attribute("class")
    assert page.locator("#people tbody tr").count() == 0
    assert page.locator("#download-openpose").is_disabled()


def test_webcam_frames_are_estimated_one_after_another(page) -> None:
    page.click("#webcam")  # Chromium's fake camera: a test pattern
    page.wait_for_function("Number(document.body.dataset.webcamFrames) >= 2", timeout=WAIT_MS)
    assert page.inner_text("#status").startswith("webcam.jpg: ")
    assert page.inner_text("#webcam") == "Stop the webcam"
    width, height = page.evaluate("[$('canvas').width, $('canvas').height]")
    assert width > 0 and height > 0
    page.click("#webcam")
    assert page.inner_text("#webcam") == "Start the webcam"


def test_a_video_comes_back_as_an_overlay_the_browser_plays(page, tmp_path: Path) -> None:
    image = read_image(SKI)
    writer = VideoWriter(tmp_path / "pan.avi", 10.0)
    for n in range(2):
        writer.write(np.ascontiguousarray(image[:640, 4 * n : 4 * n + 640]))
    writer.close()
    upload(page, tmp_path / "pan.avi")
    assert page.inner_text("#status").startswith("pan.avi: 2 frames, ")
    assert page.locator("#canvas").is_hidden()
    page.wait_for_function("$('video').readyState >= 1", timeout=30_000)  # WebM decoded
    assert page.evaluate("[$('video').videoWidth, $('video').videoHeight]") == [640, 640]
    assert page.locator("#people tbody tr").count() >= 4  # people tracked
