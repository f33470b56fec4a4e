import numpy as np
import pytest
import torch
from click.testing import CliRunner

from multipose.cli import main
from multipose.devices import torch_device
from multipose.errors import MultiposeError
from multipose.io.media import write_image

from conftest import pipeline_of

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def test_cpu_and_unknown_names():
    assert torch_device("cpu") == torch.device("cpu")
    with pytest.raises(MultiposeError, match="unknown device 'tpu'"):
        torch_device("tpu")
    with pytest.raises(MultiposeError, match="'meta' is not supported"):
        torch_device("meta")


@no_cuda
def test_cuda_without_a_gpu_is_one_clear_error():
    with pytest.raises(MultiposeError, match="sees no CUDA GPU; use --device cpu"):
        torch_device("cuda")


def test_gpu_index_and_torchrun_rank(monkeypatch):
    """With two GPUs (pretended), cuda:2 does not exist and a bare cuda under torchrun is the
    process's own GPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert torch_device("cuda") == torch.device("cuda")
    with pytest.raises(MultiposeError, match="no GPU 2 \\(2 visible\\)"):
        torch_device("cuda:2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert torch_device("cuda") == torch.device("cuda", 1)
    assert torch_device("cuda:0") == torch.device("cuda", 0)  # an explicit index is kept


@no_cuda
@pytest.mark.parametrize("command", ["estimate", "train"])
def test_commands_report_a_missing_gpu(tmp_path, command):
    if command == "estimate":
        image = tmp_path / "one.png"
        write_image(image, np.zeros((32, 32, 3), np.uint8))
        args = ["estimate", str(image), "--device", "cuda", "--out", str(tmp_path / "out")]
    else:
        config = tmp_path / "c.yaml"
        config.write_text("model: lightweight-openpose\ndata: synthetic\ndevice: cuda\n")
        args = ["train", str(config)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "sees no CUDA GPU" in result.output and "Traceback" not in result.output


def test_full_precision_turns_tf32_off_inside_and_restores_it():
    from multipose.devices import full_precision

    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        with full_precision():
            assert torch.backends.cudnn.allow_tf32 is False
        assert torch.backends.cudnn.allow_tf32 is True
        with pytest.raises(RuntimeError), full_precision():
            raise RuntimeError("a failing forward pass")
        assert torch.backends.cudnn.allow_tf32 is True
    finally:
        torch.backends.cudnn.allow_tf32 = before


class RecordsTf32(torch.nn.Module):
    """A stand-in network (hourglass-ae's outputs) noting whether cuDNN may use TF32."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(torch.backends.cudnn.allow_tf32)
        n, _, h, w = x.shape
        return [(torch.zeros(n, 17, h // 4, w // 4), torch.zeros(n, 17, h // 4, w // 4))]


def test_estimators_run_their_networks_in_full_precision():
    import numpy as np

    from multipose.geometry import Boxes
    from multipose.specs import get_spec

    image = np.zeros((64, 64, 3), np.uint8)
    boxes = lambda image, image_id=None: Boxes([[0, 0, 32, 48]], [1.0])  # noqa: E731
    for name in ("hourglass-ae", "simplebaseline-r50"):
        network = RecordsTf32()
        pipeline_of(get_spec(name), network, boxes=boxes, flip=True)(image)
        assert network.seen == [False, False]  # the image and its mirror
