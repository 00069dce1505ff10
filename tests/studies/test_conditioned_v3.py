"""The conditioned study under protocol v3, on hand-built runs whose grades are known."""

import numpy as np
import pandas as pd
import pytest

from replication.studies.conditioned import v3


def _runs(ds: str, task: str, column: str, values: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": ds, "task": task, "label": label, "seed": s, "diverged": False,
                          column: float(v[s])} for label, v in values.items() for s in range(len(v))])


def test_grades_are_in_the_task_metric_with_one_family_per_dataset():
    # forecast: encoder 5% below learned and 5% below zero_warmup (zero's MSE is 1): relevant gains
    base = 1 + np.array([1e-4, -1e-4, 2e-4, -2e-4, 0])
    r = _runs("synthetic_short", "forecast", "test_at_best",
              {"zero": base, "learned": base, "zero_warmup": base, "encoder": base - 0.05})
    # classification: accuracy 0.2 points apart, inside δ = 1 point, precisely: negligible; the
    # v2 log-loss margin would never see this column
    acc = 0.95 + np.array([0.001, -0.001, 0.0005, -0.0005, 0])
    r = pd.concat([r, _runs("japanese_vowels", "classify", "test_acc_at_best",
                            {"zero": acc, "learned": acc, "zero_warmup": acc, "encoder": acc + 0.002})])
    t = v3.tables(r, pd.DataFrame())
    c = t["v3_conditioned_comparisons"].set_index(["dataset", "a", "b"])
    assert c.loc[("synthetic_short", "encoder", "learned"), "grade"] == "better, relevant"
    assert c.loc[("synthetic_short", "encoder", "learned"), "mean_diff"] == pytest.approx(-5.0, abs=1e-9)
    assert c.loc[("japanese_vowels", "encoder", "learned"), "unit"] == "error-rate points"
    assert c.loc[("japanese_vowels", "encoder", "learned"), "grade"] == "better, small"
    # Holm runs over a dataset's five comparisons (planted bug caught: one family per comparison)
    assert (t["v3_conditioned_comparisons"].groupby("dataset")["holm_factor"].max() > 1).all()
    answer = "\n".join(v3.answer(t))
    assert "**synthetic_short: yes.**" in answer
    assert "**japanese_vowels: a real gain, size not pinned down.**" in answer


def test_an_undecided_dataset_is_not_called_no():
    rng = np.random.default_rng(0)
    z = 1 + rng.normal(0, 0.05, 5)
    r = _runs("treering_windows", "forecast", "test_at_best",
              {"zero": z, "learned": z + rng.normal(0, 0.05, 5), "zero_warmup": z,
               "encoder": z + rng.normal(0, 0.05, 5)})
    assert "**treering_windows: undecided.**" in "\n".join(v3.answer(v3.tables(r, pd.DataFrame())))


def test_scored_positions_survive_a_reanalysis_without_run_directories(tmp_path):
    """A runs.csv re-analysed with --from-tables has no config.yaml to read: its own scoring columns
    are kept (they were lost to NaN before, so the report could not tell which steps were scored)."""
    from replication.studies.conditioned.tables import SCORING_COLUMNS, scoring

    runs = pd.DataFrame({"run_dir": [str(tmp_path / "gone")] * 2, "strategy": ["zero", "encoder"],
                         "warmup": [5.0, 0.0], "score_from": [0.0, 5.0], "scored_from": [5.0, 5.0],
                         "encoder_steps": [np.nan, 5.0]})
    got = scoring(runs)
    assert got[SCORING_COLUMNS].fillna(-1).values.tolist() == [[5, 0, 5, -1], [0, 5, 5, 5]]
    # without the columns (a fresh collect of a folder with no configs) they stay unknown
    assert scoring(runs[["run_dir", "strategy"]])[SCORING_COLUMNS].isna().all().all()
