import os
import stat

import numpy as np
import pytest

from multipose.io.files import replacing
from multipose.io.jsonfile import write_json
from multipose.io.media import write_image
from multipose.train.checkpoint import save_checkpoint


@pytest.fixture(params=[0o022, 0o027, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_files_written_atomically_have_the_modes_the_umask_gives(tmp_path, umask):
    """As `open` would create them (0666 less the umask), not mkstemp's 0600."""
    write_json(tmp_path / "a.json", [1])
    write_image(tmp_path / "b.png", np.zeros((4, 4, 3), np.uint8))
    save_checkpoint(tmp_path / "c.pt", step=1)
    with (tmp_path / "plain").open("w"):
        pass
    expected = 0o666 & ~umask
    assert [_mode(tmp_path / n) for n in ("a.json", "b.png", "c.pt", "plain")] == [expected] * 4


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "a.json"
    write_json(path, [1])
    with pytest.raises(RuntimeError), replacing(path) as tmp:
        tmp.write_text("[2, half")
        # hidden, and not a *.json that a reader of the folder would take if it were left
        assert tmp.name.startswith(".a.json.") and tmp.suffix == ".tmp"
        raise RuntimeError
    assert path.read_text() == "[1]" and [p.name for p in tmp_path.iterdir()] == ["a.json"]
