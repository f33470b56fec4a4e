"""The restricted checkpoint reader: tensors and containers rebuilt, other classes recorded,
nothing the file names ever called."""

import os
import pickle
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from multipose.errors import MultiposeError
from multipose.runtime.torch_pickle import Record, module_tensors, read_checkpoint

from conftest import SHARED


def _zip_with(path, pickled: bytes) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickled)
        archive.writestr("archive/byteorder", "little")


class _WritesAFile:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_a_hostile_pickle_writes_nothing_and_is_one_clear_error(tmp_path):
    target = tmp_path / "written"
    checkpoint = tmp_path / "hostile.pt"
    _zip_with(checkpoint, pickle.dumps({"model": _WritesAFile(str(target))}, protocol=2))
    with pytest.raises(MultiposeError, match=r"hostile\.pt: .*call (os|posix)\.system"):
        read_checkpoint(checkpoint)
    assert not target.exists()


def test_tensors_and_containers_are_rebuilt_and_modules_recorded(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).half()
    path = tmp_path / "model.pt"
    torch.save({"model": model, "epoch": 3, "names": {0: "person"}}, path)
    checkpoint = read_checkpoint(path)
    assert checkpoint["epoch"] == 3 and checkpoint["names"] == {0: "person"}
    record = checkpoint["model"]
    assert (
        isinstance(record, Record) and record.qualified == "torch.nn.modules.container.Sequential"
    )
    tensors = dict(module_tensors(record))
    assert tensors.keys() == model.state_dict().keys()
    for name, tensor in model.state_dict().items():
        assert tensors[name].dtype == tensor.dtype
        torch.testing.assert_close(tensors[name], tensor)


def test_not_a_checkpoint_is_one_line(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello")
    with pytest.raises(MultiposeError, match="notes.pt: not a PyTorch zip checkpoint"):
        read_checkpoint(path)


def test_ultralytics_checkpoint_yields_its_architecture_and_weights():
    path = SHARED / "weights" / "yolo11n-pose" / "yolo11n-pose.pt"
    if not path.is_file():
        pytest.skip("../shared/weights/yolo11n-pose is not beside the checkout")
    checkpoint = read_checkpoint(path)
    assert checkpoint["license"].startswith("AGPL-3.0")
    model = checkpoint["model"]
    assert model.qualified == "ultralytics.nn.tasks.PoseModel"
    assert model.get("yaml")["kpt_shape"] == [17, 3]
    tensors = dict(module_tensors(model))
    assert tensors["model.0.conv.weight"].shape == (16, 3, 3, 3)
    assert tensors["model.0.conv.weight"].dtype == torch.float16


class _Elsewhere:
    """A class of a module the reader does not know (this test module)."""

    def __init__(self) -> None:
        self.value = 7


def test_objects_of_unknown_classes_are_records(tmp_path):
    checkpoint = tmp_path / "other.pt"
    torch.save({"thing": _Elsewhere()}, checkpoint)
    thing = read_checkpoint(checkpoint)["thing"]
    assert isinstance(thing, Record) and thing.name == "_Elsewhere" and thing.get("value") == 7


def test_numpy_values_are_records(tmp_path):
    checkpoint = tmp_path / "metrics.pt"
    torch.save({"metrics": {"mAP": np.float64(0.5)}, "array": np.arange(3)}, checkpoint)
    read = read_checkpoint(checkpoint)
    assert isinstance(read["metrics"]["mAP"], Record) and isinstance(read["array"], Record)
