"""BlazePose weights out of a mediapipe wheel, served by a local PEP 503 index (no outside
network): pip downloads it, the files are checked, kept, and not fetched twice."""

import http.server
import os
import shutil
import threading
import zipfile
from functools import partial

import pytest
from click.testing import CliRunner

from multipose.cli import main
from multipose.errors import MultiposeError
from multipose.weights.download import sha256_of
from multipose.weights.mediapipe import (
    ABI,
    FILES,
    PLATFORM,
    VERSION,
    blazepose_files,
    default_dir,
    fetch_blazepose,
)

WHEEL = f"mediapipe-{VERSION}-{ABI}-{ABI}-{PLATFORM}.whl"


@pytest.fixture(scope="module")
def real_files():
    from conftest import SHARED

    folder = SHARED / "weights" / f"mediapipe-{VERSION}"
    if not all((folder / name).is_file() for name in FILES):
        pytest.skip(f"../shared/weights/mediapipe-{VERSION} is not beside the checkout")
    return folder


@pytest.fixture(autouse=True)
def isolated_pip(monkeypatch, tmp_path):
    """pip and the cache free of this machine's settings: no configured indexes or links."""
    for key in os.environ:
        if key.startswith("PIP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path / "cache"))


def make_index(root, real_files, corrupt=None):
    """A simple index under root/simple whose only package is a mediapipe wheel of the three
    files, `corrupt` (a file name) with one byte changed."""
    with zipfile.ZipFile(root / WHEEL, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, (member, _) in FILES.items():
            data = bytearray((real_files / name).read_bytes())
            if name == corrupt:
                data[len(data) // 2] ^= 0xFF
            wheel.writestr(member, bytes(data))
        info = f"mediapipe-{VERSION}.dist-info"
        wheel.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: mediapipe\nVersion: {VERSION}\n"
        )
        tag = f"{ABI}-{ABI}-{PLATFORM}"
        wheel.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n")
    (root / "simple" / "mediapipe").mkdir(parents=True)
    (root / "simple" / "mediapipe" / "index.html").write_text(
        f'<html><body><a href="../../{WHEEL}">{WHEEL}</a></body></html>'
    )


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields (index url, root, stop)."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=root))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def stop():
        httpd.shutdown()
        httpd.server_close()

    yield f"http://127.0.0.1:{httpd.server_address[1]}/simple", root, stop
    if thread.is_alive():
        stop()


def test_fetch_checks_keeps_and_does_not_fetch_twice(server, real_files, tmp_path):
    index_url, root, stop = server
    make_index(root, real_files)
    dest = tmp_path / "weights"
    assert fetch_blazepose(dest, index_url) == dest
    assert sorted(p.name for p in dest.iterdir()) == sorted(FILES)
    for name, (_, sha256) in FILES.items():
        assert sha256_of(dest / name) == sha256
    stop()  # a second call that needed pip would fail now
    assert fetch_blazepose(dest, index_url) == dest
    assert blazepose_files(dest) == {name: dest / name for name in FILES}


def test_a_corrupt_wheel_leaves_nothing(server, real_files, tmp_path):
    index_url, root, _ = server
    make_index(root, real_files, corrupt="pose_landmark_full.tflite")
    dest = tmp_path / "weights"
    with pytest.raises(MultiposeError, match=r"pose_landmark_full.tflite has sha256 \w+, expected"):
        fetch_blazepose(dest, index_url)
    assert not dest.exists()


def test_missing_and_corrupt_files_are_all_named(real_files, tmp_path):
    folder = tmp_path / "weights"
    shutil.copytree(real_files, folder)
    (folder / "pose_detection.tflite").unlink()
    with (folder / "face_detection_full_range_sparse.tflite").open("r+b") as f:
        f.write(b"\0")
    with pytest.raises(MultiposeError) as error:
        blazepose_files(folder)
    message = str(error.value)
    assert message.startswith(f"{folder}: ")
    assert "pose_detection.tflite (missing)" in message
    assert "face_detection_full_range_sparse.tflite (corrupt" in message
    assert "pose_landmark_full" not in message
    assert f"multipose weights fetch blazepose --dest {folder}" in message
    assert "--weights DIR" in message


def test_the_default_folder_is_in_the_cache(tmp_path):
    assert default_dir() == tmp_path / "cache" / f"mediapipe-{VERSION}"
    with pytest.raises(MultiposeError, match=r"\(missing\).*`multipose weights fetch blazepose`"):
        blazepose_files()


def test_cli_fetch_and_pip_failure(server, real_files, tmp_path):
    index_url, root, _ = server
    runner = CliRunner()
    dest = tmp_path / "weights"
    args = ["weights", "fetch", "blazepose", "--dest", str(dest), "--index-url", index_url]
    result = runner.invoke(main, args)  # the index has no mediapipe yet
    assert result.exit_code == 1
    assert "error: pip could not download mediapipe==0.10.21" in result.output
    assert "No matching distribution" in result.output
    make_index(root, real_files)
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"blazepose weights in {dest}" in result.output
    assert sorted(blazepose_files(dest)) == sorted(FILES)
