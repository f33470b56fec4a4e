import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import multipose
from multipose.errors import MultiposeError
from multipose.specs import SPECS, get_spec
from multipose.weights.checkpoints import read_state_dict, write_safetensors

FIXTURES = Path(__file__).parent / "fixtures"
# Key names and shapes of the public files, dumped from the reference model definitions
# (pytorch-openpose's bodypose_model; lightweight-human-pose-estimation's
# PoseEstimationWithMobileNet), not from our modules.
PUBLIC = {
    "openpose-vgg19": ("pytorch_openpose_body.json", False),
    "lightweight-openpose": ("lightweight_openpose.json", True),
    "simplebaseline-r50": ("simplebaseline_r50.json", False),  # microsoft's PoseResNet
    "hourglass-ae": ("pose_ae_train.json", False),  # pose-ae-train's PoseNet, 4 stacks
    "hrnet-w32": ("hrnet_w32.json", False),  # deep-high-resolution-net's PoseHighResolutionNet
    "higherhrnet-w32": ("higherhrnet_w32.json", False),  # HigherHRNet's PoseHigherResolutionNet
}


def public_checkpoint(tmp_path, name, drop=None, reshape=None):
    fixture, wrapped = PUBLIC[name]
    shapes = json.loads((FIXTURES / fixture).read_text())
    generator = torch.Generator().manual_seed(0)
    state = {
        k: torch.randn(shape, generator=generator) if shape else torch.tensor(0)
        for k, shape in shapes.items()
        if k != drop
    }
    if reshape:
        state[reshape] = torch.zeros(1)
    path = tmp_path / f"{name}.pth"
    torch.save({"state_dict": state} if wrapped else state, path)
    return path, state


@pytest.mark.parametrize("name", list(PUBLIC))
def test_public_checkpoints_load_unchanged(tmp_path, name):
    path, state = public_checkpoint(tmp_path, name)
    model = get_spec(name).load(path)
    ours = model.state_dict()
    if name == "openpose-vgg19":
        assert torch.equal(
            ours["heatmap_branches.0.conv5_5_CPM_L2.weight"], state["conv5_5_CPM_L2.weight"]
        )
        assert torch.equal(
            ours["paf_branches.5.Mconv7_stage6_L1.bias"], state["Mconv7_stage6_L1.bias"]
        )
    else:  # the same names (less a prefix): every tensor where it was
        assert all(torch.equal(ours[k.removeprefix("model.module.")], v) for k, v in state.items())
    # And back through our own format.
    write_safetensors(tmp_path / "ours.safetensors", model)
    again = get_spec(name).load(tmp_path / "ours.safetensors").state_dict()
    assert all(torch.equal(again[k], v) for k, v in ours.items())


def test_missing_and_misshaped_keys_are_listed(tmp_path):
    path, _ = public_checkpoint(
        tmp_path, "openpose-vgg19", drop="conv3_2.bias", reshape="Mconv1_stage4_L2.weight"
    )
    with pytest.raises(MultiposeError) as info:
        get_spec("openpose-vgg19").load(path)
    message = str(info.value)
    assert "1 missing: front.conv3_2.bias" in message
    assert "wrong shape: heatmap_branches.3.Mconv1_stage4_L2.weight (1,)" in message
    assert str(path) in message


class _RunsCode:
    def __reduce__(self):
        return (Path.cwd, ())  # harmless, but code all the same


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"conv1_1.weight": _RunsCode()}, protocol=2))
    with pytest.raises(
        MultiposeError, match="refused: besides tensors it holds a pickled .*could run code$"
    ):
        read_state_dict(path)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(MultiposeError, match="junk.pth: not a PyTorch checkpoint"):
        read_state_dict(tmp_path / "junk.pth")


@pytest.mark.parametrize(
    "content",
    [
        bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),  # noise
        pickle.dumps({"conv1_1.weight": 1.0}, protocol=4),  # a plain pickle, not torch's zip
        b"PK\x03\x04" + b"\x00" * 60,  # a zip cut short
        b"model: x\n",
    ],
    ids=["noise", "plain-pickle", "cut-zip", "text"],
)
def test_a_file_that_is_no_checkpoint_is_named_in_our_words(tmp_path, content, recwarn):
    """One line, no PyTorch advice (to load with weights_only=False, which would run code), no
    claim that noise could run code, no warnings."""
    path = tmp_path / "weights.pt"
    path.write_bytes(content)
    with pytest.raises(MultiposeError) as info:
        read_state_dict(path)
    assert (
        str(info.value)
        == f"{path}: not a PyTorch checkpoint (damaged, cut short or another kind of file)"
    )
    assert not recwarn.list
    path = tmp_path / "weights.safetensors"
    path.write_bytes(content)
    with pytest.raises(MultiposeError, match="weights.safetensors: not a safetensors file"):
        read_state_dict(path)


# networks built from code (BlazePose's are defined by its TFLite files: test_blazepose.py)
BUILT = [name for name, spec in SPECS.items() if spec.loss is not None]


@pytest.mark.parametrize("name", BUILT)
def test_forward_shapes_and_strides_at_two_sizes(name):
    spec = get_spec(name)
    model = spec.build().eval()
    for h, w in ((64, 96), (96, 64)):
        with torch.inference_mode():
            outputs = model(torch.rand(1, 3, h, w) * 255)
        size = (-(-h // spec.stride), -(-w // spec.stride))
        if spec.codec().method == "openpose":
            heatmaps, pafs = outputs[-1]
            assert heatmaps.shape == (1, 19, *size) and pafs.shape == (1, 38, *size)
            assert len(outputs) >= 2  # every stage's output, for the loss
        else:
            assert outputs[-1][0].shape == (1, 17, *size)
            if spec.codec().method == "ae":
                assert outputs[-1][1].shape == (1, 17, *size)
            if name == "hourglass-ae":
                assert len(outputs) == 4  # one per stack, for intermediate supervision
            if name == "higherhrnet-w32":
                assert outputs[-1][2].shape == (1, 17, 2 * size[0], 2 * size[1])


@pytest.mark.parametrize("name", BUILT)
def test_onnxruntime_gives_the_network_outputs(tmp_path, name):
    ort = pytest.importorskip("onnxruntime")
    from multipose.runtime.onnx import export_onnx

    spec = get_spec(name)
    torch.manual_seed(0)
    network = spec.build().eval()
    path = export_onnx(spec, network, tmp_path / "model.onnx", (96, 64))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    sizes = [(96, 64), (64, 96)] if spec.input.dynamic_size else [(96, 64)]
    for width, height in sizes:
        x = torch.rand(2, 3, height, width) * 255
        with torch.inference_mode():
            expected = [t.numpy() for t in network(x)[-1]]
        for ours, theirs in zip(session.run(None, {"image": x.numpy()}), expected, strict=True):
            assert ours.shape == theirs.shape
            assert np.abs(ours - theirs).max() <= 1e-4 * max(1.0, np.abs(theirs).max())


def test_onnxruntime_threads_spin_only_while_every_cpu_they_use_is_spare():
    """Calls run on the threads other programs leave idle, spinning while all are; sleeping
    where nothing is known; spinning pools stop at the end of each run."""
    ort = pytest.importorskip("onnxruntime")
    from multipose.runtime.onnx import call_threads, session_options

    assert call_threads(2, 2) == (2, True) and call_threads(2, 8) == (2, True)
    assert call_threads(4, 2) == (2, True)
    assert call_threads(2, 1) == (1, False)
    assert call_threads(2, None) == (2, False)
    options = session_options(ort, 2, spin=True)
    assert options.intra_op_num_threads == 2
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"
    sleeping = session_options(ort, 2)
    assert sleeping.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_onnx_calls_follow_the_cpus_other_programs_leave(monkeypatch):
    """Each call asks the CpuWatch: a busy machine gets a one-thread sleeping session, a quiet
    one the spinning session on every thread; the outputs are the same."""
    pytest.importorskip("onnxruntime")
    from multipose.runtime.onnx import OnnxModule

    spare = [2]
    monkeypatch.setattr("multipose.runtime.onnx.cpu_watch", lambda: lambda: spare[0])
    module = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))
    wrapped = OnnxModule(LastTuple(module), (1, 3, 16, 16), threads=2)
    x = torch.randn(1, 3, 16, 16)
    quiet = wrapped(x)[0]
    spare[0] = 1
    busy = wrapped(x)[0]
    assert set(wrapped.sessions) == {(2, True), (1, False)}
    torch.testing.assert_close(quiet, busy, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(busy, module(x), rtol=1e-4, atol=1e-4)


class LastTuple(nn.Module):
    """A module's output as a one-tensor tuple, as OnnxModule expects."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.module(x),)


def test_convert_and_export_commands(tmp_path):
    from click.testing import CliRunner

    from multipose.cli import main

    path, _ = public_checkpoint(tmp_path, "lightweight-openpose")
    out = tmp_path / "lw.safetensors"
    result = CliRunner().invoke(
        main, ["convert-weights", str(path), "--arch", "lightweight-openpose", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "parameters" in result.output and out.is_file()
    result = CliRunner().invoke(
        main,
        [
            "export-onnx",
            "lightweight-openpose",
            "--weights",
            str(out),
            "--out",
            str(tmp_path / "lw.onnx"),
            "--size",
            "96x64",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "lw.onnx").is_file()
    result = CliRunner().invoke(
        main, ["convert-weights", str(path), "--arch", "openpose-vgg19", "--out", str(out)]
    )
    assert result.exit_code == 1 and "do not fit OpenPoseVGG19" in result.output
    assert "lightweight-openpose" in CliRunner().invoke(main, ["models"]).output


@pytest.mark.parametrize("name", [n for n in BUILT if get_spec(n).input.dynamic_size])
def test_an_export_traced_on_a_small_input_runs_like_the_module_at_larger_sizes(name):
    pytest.importorskip("onnxruntime")
    from multipose.pipelines.network import Network, traced_shape
    from multipose.runtime.onnx import LastStage

    assert traced_shape((2, 3, 160, 224)) == (1, 3, 96, 96)  # sides 64 + their remainder
    assert traced_shape((2, 3, 96, 127)) == (1, 3, 96, 127)
    torch.manual_seed(0)
    module = LastStage(get_spec(name).build().eval())
    network = Network(module, backend="onnxruntime")
    for height, width in ((160, 224), (288, 160)):
        x = torch.rand(2, 3, height, width) * 255
        with torch.inference_mode():
            expected = [t.numpy() for t in module(x)]
        for ours, theirs in zip(network(x), expected, strict=True):
            assert ours.shape == theirs.shape
            assert np.abs(ours - theirs).max() <= 1e-4 * max(1.0, np.abs(theirs).max())
    assert len(network.runners) == 1  # one export, traced at 96 x 96, for both sizes


def test_pipelines_built_together_share_their_networks(hybrid_weights):
    from multipose.loading import load_copies
    from multipose.pipelines.network import network_of, shared_networks

    module = LastTuple(torch.nn.Conv2d(3, 2, 1))
    assert network_of(module) is not network_of(module)
    with shared_networks() as shared:
        assert network_of(module) is network_of(module) is not network_of(module, backend="torch")
        assert network_of(module, last_stage=True) is not network_of(module)
    assert len(shared) == 3 and network_of(module) is not network_of(module)
    first, second = load_copies(2, multipose.DEFAULT_MODEL, hybrid_weights)
    assert first is not second and first.bottom_up is not second.bottom_up
    assert first.bottom_up.network is second.bottom_up.network  # one export for both
    assert first.blazepose.networks == second.blazepose.networks
    assert multipose.load(multipose.DEFAULT_MODEL, hybrid_weights).bottom_up.network is not (
        first.bottom_up.network
    )


def test_the_auto_backend_is_onnxruntime_on_the_cpu_and_torch_without_it(monkeypatch):
    import sys

    from multipose.pipelines.network import Network

    module, x = LastTuple(torch.nn.Conv2d(3, 2, 3, padding=1)), torch.rand(1, 3, 8, 8)
    network = Network(module)
    assert network.backend == "onnxruntime"
    with torch.no_grad():
        expected = module(x)[0].numpy()
    np.testing.assert_allclose(network(x)[0], expected, atol=1e-5)
    assert len(network.runners) == 1  # exported on the first call
    openvino = Network(module, backend="openvino")
    np.testing.assert_allclose(openvino(x)[0], expected, atol=2e-2)  # bfloat16 on AMX CPUs
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    assert Network(module).backend == "torch"
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(MultiposeError, match="pip install openvino"):
        Network(module, backend="openvino")


def test_openvino_gives_the_module_outputs_at_each_precision_and_thread_count(monkeypatch):
    """float32 as the module to float noise, bfloat16 to its 8-bit mantissa; each call on the
    threads the CpuWatch finds spare (a compiled model per count); calls from several threads
    at once each get their own outputs."""
    from concurrent.futures import ThreadPoolExecutor

    from multipose.runtime.openvino import OpenVinoModule

    spare = [2]
    monkeypatch.setattr("multipose.runtime.onnx.cpu_watch", lambda: lambda: spare[0])
    torch.manual_seed(0)
    module = LastTuple(
        nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU6(), nn.Conv2d(16, 4, 1))
    ).eval()
    inputs = [torch.rand(2, 3, 16, 24) for _ in range(8)]
    with torch.no_grad():
        expected = [module(x)[0] for x in inputs]
    exact = OpenVinoModule(module, (1, 3, 16, 16), (0, 2, 3), threads=2, precision="f32")
    torch.testing.assert_close(exact(inputs[0])[0], expected[0], rtol=1e-4, atol=1e-4)
    spare[0] = 1
    torch.testing.assert_close(exact(inputs[0])[0], expected[0], rtol=1e-4, atol=1e-4)
    assert set(exact.compiled) == {2, 1}
    bf16 = OpenVinoModule(module, (1, 3, 16, 16), (0, 2, 3), threads=2, precision="bf16")
    scale = float(expected[0].abs().max())
    assert (bf16(inputs[0])[0] - expected[0]).abs().max() <= 2e-2 * scale
    with ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(lambda x: exact(x)[0], inputs))
    for ours, theirs in zip(outputs, expected, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    with pytest.raises(MultiposeError, match="precision"):
        OpenVinoModule(module, (1, 3, 16, 16), precision="f16")


def test_openvino_default_precision_is_what_an_untold_model_computes_in():
    from multipose.runtime.openvino import OpenVinoModule, default_precision

    module = LastTuple(nn.Conv2d(3, 4, 1)).eval()
    compiled = OpenVinoModule(module, (1, 3, 8, 8), threads=1).compiled_model(1)
    hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    assert default_precision() == hint
    assert default_precision() in ("f32", "bf16")
