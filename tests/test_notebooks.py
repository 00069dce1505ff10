"""Each notebook runs top to bottom (nbclient) against a tiny sweep made here, so a notebook that
breaks fails CI."""

from pathlib import Path

import nbformat
import pytest
from hydra import compose, initialize_config_dir
from nbclient import NotebookClient

from replication.analysis import analyze
from replication.run import train

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nb")
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        for data in ("treering_windows", "treering_stateful"):
            for init in ("zero", "noisy", "learned", "learned_noisy"):
                for seed in range(3):
                    cfg = compose("train", overrides=[
                        f"data={data}", f"init_state={init}", f"seed={seed}", "logger=none",
                        "trainer.epochs=2", "trainer.progress=false", "model.hidden_size=8",
                        f"paths.sweeps_root={tmp}/sweeps"])
                    train(cfg, log=lambda *_: None)
    analyze(tmp / "sweeps" / "dev", tmp / "results", profile="test")
    return tmp / "results"


def test_three_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS][:3] == ["01_learning_curves", "02_generalization_gap", "03_verdicts"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tiny_results, monkeypatch, tmp_path):
    monkeypatch.setenv("INITSTATE_RESULTS", str(tiny_results))
    monkeypatch.setenv("INITSTATE_NB_FIGS", str(tmp_path / "figs"))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert any(o.get("output_type") == "display_data" for c in nb.cells if c.cell_type == "code" for o in c.outputs)
