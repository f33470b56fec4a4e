"""The README's Python examples run as written, each in a fresh interpreter, from a folder
beside which `../shared/` (the real data and weights) lies, as for a checkout."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.MULTILINE | re.DOTALL)


def test_the_readme_has_its_examples():
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_a_readme_example_runs_as_written(tmp_path, data_dir, number):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (tmp_path / "shared").symlink_to(SHARED)
    script = checkout / "example.py"
    script.write_text(BLOCKS[number])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (*sys.path, env.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        [sys.executable, script.name],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, f"README example {number}:\n{BLOCKS[number]}\n{done.stderr}"
