"""Start-up: the commands that run no network do not import torch (seconds of start-up)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import DATASETS, SHARED

RUN = """
import sys
from multipose.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    assert not exit.code, exit.code
print("torch" in sys.modules)
"""


def _imports_torch(*args: str) -> bool:
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1] == "True"


def test_help_and_models_do_not_import_torch():
    assert not _imports_torch("--help")
    assert not _imports_torch("models")


def test_evaluate_and_render_do_not_import_torch(tmp_path):
    annotations, photo = DATASETS["coco-mini-val2017"], SHARED / "data" / "photos" / "ski.jpg"
    if not annotations.is_file() or not photo.is_file():
        pytest.skip("../shared/data is not beside the checkout")
    person = {"image_id": 397133, "category_id": 1, "score": 0.9}
    person["keypoints"] = [v for i in range(17) for v in (300 + i, 200 + 5 * i, 1)]
    results = tmp_path / "results.json"
    results.write_text(json.dumps([person]))
    assert not _imports_torch("evaluate", "--gt", str(annotations), "--pred", str(results))
    poses = tmp_path / "ski_keypoints.json"
    people = [{"pose_keypoints_2d": [v for i in range(18) for v in (100 + i, 100 + i, 0.9)]}]
    poses.write_text(json.dumps({"version": 1.3, "people": people}))
    out = tmp_path / "drawn.png"
    assert not _imports_torch("render", str(photo), str(poses), "--out", str(out))
    assert out.is_file()


def test_the_check_sees_torch_where_it_is_imported():
    assert _imports_torch("estimate", "--help") is False  # the help alone stays light
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, multipose; multipose.load; print('torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "True"  # `load` brings torch: the check would see it


def test_openmp_threads_wait_passively_unless_told_otherwise():
    show = "import os, multipose, torch; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run([sys.executable, "-c", show], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    done = subprocess.run([sys.executable, "-c", show], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "ACTIVE"


MAKE_MAPS = """
import sys
import numpy as np
from multipose.codecs.associative import AssociativeCodec
from multipose.codecs.paf import PafCodec
from multipose.data.synthetic import make_scene

poses = make_scene(6, 656, 368, seed=1, p_missing=0.2).poses
paf = PafCodec().encode(poses, (656, 368))
ae = AssociativeCodec()
heights = np.ones((len(poses), 17))
heights[:, 9] = 0.05  # faint wrists: the refinement kernel runs
heat = ae.encode(poses.convert("coco17"), (656, 368), peak_heights=heights).heatmaps[0]
tags = ae.render_tags(poses.convert("coco17"), (656, 368), np.arange(len(poses)) * 2.0 + 1)
np.savez(sys.argv[1], heat=paf.heatmaps, pafs=paf.pafs, ae_heat=heat, ae_tags=tags)
"""

FIRST_DECODE = """
import json, sys, time
import numpy as np
from multipose.codecs import associative, paf
from multipose.codecs.numba_start import start_numba

maps = np.load(sys.argv[1])
if sys.argv[2] == "started":  # as a pipeline does when it is built, and the network runs
    start_numba().join()
start = time.perf_counter()
found = len(paf.PafCodec().decode([maps["heat"], maps["pafs"]]))
found += len(associative.AssociativeCodec().decode([maps["ae_heat"], maps["ae_tags"]]))
seconds = time.perf_counter() - start
kernels = {
    f"{module.__name__}.{name}": [sum(kernel.stats.cache_hits.values()),
                                   sum(kernel.stats.cache_misses.values())]
    for module in (paf, associative)
    for name, kernel in vars(module).items()
    if hasattr(kernel, "stats") and kernel.signatures
}
print(json.dumps({"seconds": seconds, "found": found, "kernels": kernels}))
"""


def test_a_second_process_decodes_from_numbas_cache_without_compiling(tmp_path):
    """The first process compiles the PAF and AE kernels into the cache; a second one loads
    them (no cache miss, nothing compiled), and once numba has started (a pipeline starts it
    when built) its first decodes take well under a second."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    maps = tmp_path / "maps.npz"
    subprocess.run([sys.executable, "-c", MAKE_MAPS, maps], env=env, check=True)

    def first_decode(how: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-c", FIRST_DECODE, maps, how],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout)

    first_decode("cold")  # compiles what MAKE_MAPS did not
    cold, started = first_decode("cold"), first_decode("started")
    for run in (cold, started):
        assert run["found"] >= 10  # both codecs found people (6 each, some may merge)
        assert {k.rsplit(".", 1)[1] for k in run["kernels"]} >= {
            "_line_integrals",
            "_greedy_match",
            "_refine_kernel",
        }
        for hits, misses in run["kernels"].values():
            assert hits >= 1 and misses == 0  # loaded from the cache, never compiled
    assert started["seconds"] < 1.0  # ~0.03 s quiet; numba's own start is ~0.3-2 s
