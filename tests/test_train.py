import os
import socket
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
import yaml

from multipose.errors import MultiposeError
from multipose.train.checkpoint import load_checkpoint
from multipose.train.config import TrainConfig
from multipose.train.trainer import Trainer


def small(tmp_path, **changes) -> TrainConfig:
    settings = dict(
        model="lightweight-openpose",
        data="synthetic",
        out_dir=str(tmp_path / "run"),
        synthetic_images=8,
        synthetic_people=2,
        input_size=(64, 64),
        batch_size=2,
        steps=8,
        checkpoint_every=4,
        warmup_steps=2,
        workers=0,
        log_every=100,
    )
    settings.update(changes)
    return TrainConfig(**settings)


def test_a_killed_run_resumes_exactly(tmp_path):
    torch.set_num_threads(1)
    whole = Trainer(small(tmp_path / "a")).run()
    assert [r["step"] for r in whole] == list(range(1, 9))
    interrupted = small(tmp_path / "b")
    Trainer(interrupted).run(stop_after=6)  # killed after step 6; the checkpoint is at step 4
    assert load_checkpoint(tmp_path / "b" / "run" / "last.pt")["step"] == 4
    resumed = Trainer(interrupted, resume=True)
    assert resumed.step == 4
    rest = resumed.run()
    assert [r["step"] for r in rest] == [5, 6, 7, 8]
    for mine, theirs in zip(rest, whole[4:], strict=True):
        assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-5)
    final = load_checkpoint(tmp_path / "b" / "run" / "last.pt")
    assert final["step"] == 8 and final["config"]["model"] == "lightweight-openpose"
    logged = (tmp_path / "b" / "run" / "log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in logged[1:]] == [str(s) for s in range(1, 9)]


def test_the_loss_falls(tmp_path):
    rows = Trainer(small(tmp_path, steps=30, lr=2e-3, warmup_steps=3, augment=False)).run()
    assert sum(r["loss"] for r in rows[-5:]) < 0.8 * sum(r["loss"] for r in rows[:5])


@pytest.mark.parametrize("model", ["higherhrnet-w32", "simplebaseline-r50"])
def test_other_methods_train_a_step(tmp_path, model):
    config = small(tmp_path, model=model, steps=1, batch_size=2, synthetic_images=2)
    row = Trainer(config).run()[0]
    assert row["step"] == 1 and row["loss"] > 0
    if model == "higherhrnet-w32":
        assert {"pull", "push", "heatmaps_stride2"} <= set(row)


def test_config_errors(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump({"model": "lightweight-openpose", "data": "synthetic", "learning_rate": 1})
    )
    with pytest.raises(MultiposeError, match="unknown settings: learning_rate"):
        TrainConfig.read(path)
    path.write_text("model: x\ndata: y\nlr: fast\n")
    with pytest.raises(MultiposeError, match="lr: 'fast' is not a valid value"):
        TrainConfig.read(path)
    path.write_text("model: x\n")
    with pytest.raises(MultiposeError, match="missing settings: data"):
        TrainConfig.read(path)
    with pytest.raises(MultiposeError, match="nothing to resume"):
        Trainer(small(tmp_path / "empty"), resume=True)
    with pytest.raises(MultiposeError, match="make no batch"):
        Trainer(replace(small(tmp_path), batch_size=64)).run()


def test_two_processes_with_gloo(tmp_path):
    config = small(tmp_path, steps=4, checkpoint_every=100)
    path = tmp_path / "ddp.yaml"
    settings = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(config).items()}
    path.write_text(yaml.safe_dump(settings))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(port),
            "-m",
            "multipose.train",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["step"] == 4 and state["world_size"] == 2
    assert done.stdout.count("step 4/4") == 1  # rank 0 alone logs


def test_validation_keeps_the_best_weights(tmp_path, data_dir):
    config = small(
        tmp_path, steps=2, val=str(data_dir / "mmpose-tests" / "coco" / "test_coco.json")
    )
    rows = Trainer(config).run()
    assert 0.0 <= rows[-1]["AP"] <= 1.0
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best["step"] == 2 and best["ap"] == rows[-1]["AP"]


def test_every_shipped_config_reads():
    from pathlib import Path

    from multipose.specs import SPECS

    configs = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert len(configs) >= 8
    read = [TrainConfig.read(path) for path in configs]
    # every trainable model has a config (BlazePose comes as fixed TFLite files: no training)
    trainable = {name for name, spec in SPECS.items() if spec.loss is not None}
    assert trainable <= {config.model for config in read}
    assert all(isinstance(config.lr, float) and config.lr > 0 for config in read)


def test_validation_runs_at_the_training_input_size(tmp_path, data_dir, monkeypatch):
    from multipose.pipelines import BottomUpPipeline

    heights = []
    real = BottomUpPipeline.__init__

    def recording(self, spec, *args, **kwargs):
        heights.append(spec.input.height)
        real(self, spec, *args, **kwargs)

    monkeypatch.setattr(BottomUpPipeline, "__init__", recording)
    val = str(data_dir / "mmpose-tests" / "coco" / "test_coco.json")
    Trainer(small(tmp_path, steps=1, val=val, input_size=(64, 96))).run()
    assert heights == [96]  # not the spec's own 256


@pytest.mark.parametrize(
    "setting, value, saying",
    [
        ("batch_size", 0, "batch_size: 0 is below 1"),
        ("steps", -1, "steps: -1 is below 1"),
        ("checkpoint_every", 0, "checkpoint_every: 0 is below 1"),
        ("log_every", 0, "log_every: 0 is below 1"),
        ("input_size", [0, 64], "input_size: [0, 64] is not a width and a height in pixels"),
        ("input_size", [64], "input_size: [64] is not a width and a height in pixels"),
        ("lr", 0, "lr: 0.0 is not above 0"),
        ("lr", ".nan", "lr: nan is not a number >= 0"),
        ("step_at", [0.5, 2], "step_at: [0.5, 2] are not fractions of the steps"),
        ("schedule", "linear", "schedule: 'linear' is not one of cosine, step"),
        ("optimizer", "adam", "optimizer: 'adam' is not one of adamw, sgd"),
    ],
)
def test_settings_out_of_range_are_refused_in_one_line(tmp_path, setting, value, saying):
    from click.testing import CliRunner

    from multipose.cli import main

    path = tmp_path / "bad.yaml"
    settings = {"model": "lightweight-openpose", "data": "synthetic", "synthetic_images": 2}
    text = yaml.safe_dump({**settings, "out_dir": str(tmp_path / "run"), setting: value})
    path.write_text(text.replace("'.nan'", ".nan"))
    result = CliRunner().invoke(main, ["train", str(path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.output.strip() == f"error: {path}: {saying}"


def test_resume_refuses_another_model_or_optimizer(tmp_path):
    Trainer(small(tmp_path, steps=2, checkpoint_every=2)).run()
    last = tmp_path / "run" / "last.pt"
    for change in ({"model": "openpose-mobilenet-v2"}, {"optimizer": "sgd"}):
        ((name, value),) = change.items()
        with pytest.raises(MultiposeError) as info:
            Trainer(small(tmp_path, steps=2, **change), resume=True)
        assert str(info.value).startswith(f"{last}: was written by a run of {name} ")
        assert f"not {value}" in str(info.value)
    state = load_checkpoint(last)  # a checkpoint without its config, of another network
    state["model"] = {"conv.weight": torch.zeros(1)}
    del state["config"]
    torch.save(state, last)
    with pytest.raises(MultiposeError, match="does not fit this run's lightweight-openpose"):
        Trainer(small(tmp_path, steps=2), resume=True)


def test_resume_warns_where_the_settings_that_shape_the_run_changed(tmp_path, capsys):
    Trainer(small(tmp_path, steps=2, checkpoint_every=2)).run()
    capsys.readouterr()
    Trainer(small(tmp_path, steps=2, workers=1, log_every=1), resume=True)  # harmless changes
    assert capsys.readouterr().err == ""
    resumed = Trainer(small(tmp_path, steps=4, batch_size=4), resume=True)
    warning = capsys.readouterr().err.strip()
    assert warning.startswith(f"warning: {tmp_path / 'run' / 'last.pt'}: resuming with other")
    assert "batch_size 2 -> 4, steps 2 -> 4" in warning and len(warning.splitlines()) == 1
    assert resumed.step == 2 and [r["step"] for r in resumed.run()] == [3, 4]


@pytest.mark.parametrize(
    "text, saying",
    [
        (
            "model: x\ndata: y\n  lr: [1, 2\n",
            "mapping values are not allowed here at line 3, column 5",
        ),
        (
            "model: x\ndata: y\n\tsteps: 3\n",
            "found character '\\t' that cannot start any token at line 3",
        ),
    ],
)
def test_yaml_errors_are_one_line(tmp_path, text, saying):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(MultiposeError) as info:
        TrainConfig.read(path)
    assert str(info.value).startswith(f"{path}: not valid YAML: {saying}")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "content", [b"\x80\x02junk" * 50, b"PK\x03\x04cut short"], ids=["junk", "cut-zip"]
)
def test_resume_from_a_file_that_is_no_checkpoint(tmp_path, content):
    last = tmp_path / "run" / "last.pt"
    last.parent.mkdir()
    last.write_bytes(content)
    with pytest.raises(MultiposeError) as info:
        Trainer(small(tmp_path), resume=True)
    assert str(info.value) == (
        f"{last}: not a PyTorch checkpoint (damaged, cut short or another kind of file)"
    )
    torch.save([1, 2], last)  # a PyTorch file, but not a checkpoint of ours
    with pytest.raises(MultiposeError, match="last.pt: not a training checkpoint"):
        Trainer(small(tmp_path), resume=True)
