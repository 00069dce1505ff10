"""The API site builds offline in strict mode, and strict mode catches what it should.

``make docs`` runs the same build (``mkdocs build --strict``). Each build takes ~10 s.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def _build(config_dir: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # material's banner, not a build warning
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config_dir / "mkdocs.yml"), "-d", str(site)],
        cwd=config_dir, env=env, capture_output=True, text=True,
    )


def test_docs_build_in_strict_mode(tmp_path):
    run = _build(ROOT, tmp_path / "site")
    assert run.returncode == 0, run.stderr
    page = (tmp_path / "site" / "api" / "modules" / "index.html").read_text()
    for name in ("LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"):
        assert f'id="initstate.{name}"' in page, name
    assert "noise_std" in page and "Inputs" in page and "Examples" in page
    strategies = (tmp_path / "site" / "api" / "strategies" / "index.html").read_text()
    for name in ("Zero", "Noisy", "Learned", "LearnedNoisy", "Adaptive", "Encoder", "Context", "InitialState"):
        assert f'id="initstate.{name}"' in strategies, name
    index = (tmp_path / "site" / "index.html").read_text()
    assert "initstate.LSTM" in index and "init_mask" in index  # the README's quick start, included


def test_a_broken_reference_or_a_stale_docstring_fails_the_build(tmp_path):
    # A copy of the site's sources with two planted faults: a page linking to an object that
    # does not exist, and a docstring documenting an argument its function does not take.
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("mkdocs.yml", "README.md", "CHANGELOG.md"):
        shutil.copy(ROOT / name, copy / name)
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copytree(ROOT / "src" / "initstate", copy / "src" / "initstate",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "docs" / "index.md", "a") as f:
        f.write("\nSee [the missing class][initstate.NoSuchClass].\n")
    state = copy / "src" / "initstate" / "state.py"
    text = state.read_text()
    assert "        batch_dim: the batch dimension" in text
    state.write_text(text.replace("        batch_dim: the batch dimension", "        batch_axis: the batch dimension"))
    run = _build(copy, tmp_path / "site")
    assert run.returncode != 0
    assert "initstate.NoSuchClass" in run.stderr, run.stderr
    assert "batch_axis" in run.stderr, run.stderr
