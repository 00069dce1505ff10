"""The noise-scale study (Q5): its tables on hand-built runs whose answers are known, and
``analyze_noise`` end to end on a hand-written sweep (summary.json / metrics.jsonl, nothing trained)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from replication.analysis.stats import holm
from replication.studies.noise import tables as N
from replication.studies.runner import analyze

SEEDS = 6
BASE = 1.0 + 0.05 * np.arange(SEEDS)  # a per-seed offset every label shares: what pairing removes
ALT = 0.02 * (-1.0) ** np.arange(SEEDS)  # large seed-to-seed noise that sums to 0 over the seeds


def jitter(k: int) -> np.ndarray:
    """Tiny deterministic noise, different per label (so no paired SD is exactly 0)."""
    return 1e-4 * ((np.arange(SEEDS) * 7 + k) % 3 - 1)


# label -> (strategy, sigma, test losses over the seeds). noisy: σ = 0.1 clearly better, 1.0 clearly
# worse, 0.03 and 0.3 equal to zero. learned_noisy: σ = 0.3 best, 0.1 as good within the seeds'
# noise (in its set), learned and σ = 0.03 significantly worse than 0.3, σ = 1.0 far worse.
LOSSES = {
    "zero": ("zero", 0.0, BASE + jitter(0)),
    "noisy_s0.03": ("noisy", 0.03, BASE + jitter(1)),
    "noisy_s0.1": ("noisy", 0.1, BASE - 0.05 + jitter(2)),
    "noisy": ("noisy", 0.3, BASE + jitter(3)),
    "noisy_s1.0": ("noisy", 1.0, BASE + 0.1 + jitter(4)),
    "learned": ("learned", 0.0, BASE - 0.02 + jitter(5)),
    "learned_noisy_s0.03": ("learned_noisy", 0.03, BASE - 0.02 + jitter(6)),
    "learned_noisy_s0.1": ("learned_noisy", 0.1, BASE - 0.03 + ALT),
    "learned_noisy": ("learned_noisy", 0.3, BASE - 0.035 + jitter(7)),
    "learned_noisy_s1.0": ("learned_noisy", 1.0, BASE + 0.2 + jitter(8)),
}
ADAPTIVE_SIGMA = [0.08, 0.1, 0.1, 0.1, 0.12, 0.1]  # at the best epoch; median 0.1


def make_runs(dataset="ds", rms_h=(0.4, 0.6), rms_c=2.0, losses=None, adaptive_sigma=ADAPTIVE_SIGMA):
    """A runs table as collect() gives it, plus the adaptive curves: ``(runs, curves)``. The zero runs'
    RMS(h) alternates between ``rms_h`` over the seeds; other runs carry a wrong RMS (99) that must be
    ignored, and zero/learned a leftover noise_std of 0.3 that is not their σ."""
    rows, curves = [], []
    for label, (strat, sigma, loss) in (losses or LOSSES).items():
        for s in range(SEEDS):
            rows.append({"dataset": dataset, "strategy": strat, "label": label, "seed": s, "diverged": False,
                         "test_at_best": float(loss[s]), "best_epoch": 2, "noise_std": sigma or 0.3,
                         "state_rms_h": rms_h[s % 2] if strat == "zero" else 99.0,
                         "state_rms_c": rms_c if strat == "zero" else 99.0})
    for s in range(SEEDS):
        a = (BASE - 0.01 + jitter(9))[s]
        rows.append({"dataset": dataset, "strategy": "adaptive", "label": "adaptive", "seed": s, "diverged": False,
                     "test_at_best": a, "best_epoch": 2, "noise_std": 0.3, "state_rms_h": 99.0, "state_rms_c": 99.0})
        for e in range(4):  # only the best epoch's σ counts
            curves.append({"dataset": dataset, "strategy": "adaptive", "label": "adaptive", "seed": s, "epoch": e,
                           N.SIGMA_KEY: adaptive_sigma[s] if e == 2 else 5.0, "state/c0_noise_scale": 0.2,
                           N.ERROR_KEY: 0.01 * (4 - e)})
    return pd.DataFrame(rows), pd.DataFrame(curves)


def _row(grid, family, sigma, dataset="ds"):
    g = grid[(grid["dataset"] == dataset) & (grid["family"] == family) & np.isclose(grid["sigma"], sigma)]
    assert len(g) == 1, (family, sigma)
    return g.iloc[0]


def test_label_sigma():
    assert N.label_sigma("noisy_s0.1", "noisy", np.nan) == 0.1
    assert N.label_sigma("learned_noisy_s1.0", "learned_noisy", np.nan) == 1.0
    assert N.label_sigma("noisy", "noisy", np.nan) == 0.3  # the plain labels' σ
    assert N.label_sigma("noisy_s0.1", "noisy", 0.1) == 0.1
    assert N.label_sigma("zero", "zero", 0.3) == 0.0 and N.label_sigma("learned", "learned", 0.3) == 0.0


def test_grid_verdicts_best_sigma_and_set_by_hand():
    runs, curves = make_runs()
    t = N.tables(runs, curves)
    g = t["grid"]
    assert len(g) == 10 and (g["n"] == SEEDS).all()
    verdict = {s: _row(g, "noisy", s)["vs_zero_verdict"] for s in (0, 0.03, 0.1, 0.3, 1.0)}
    assert verdict == {0: "reference", 0.03: "negligible", 0.1: "better", 0.3: "negligible", 1.0: "worse"}
    # the effect and Holm's p by hand: paired t-tests of the four σ > 0 against zero
    zero = LOSSES["zero"][2]
    d = {lab: LOSSES[lab][2] - zero for lab in ("noisy_s0.03", "noisy_s0.1", "noisy", "noisy_s1.0")}
    p = holm([stats.ttest_rel(LOSSES[lab][2], zero).pvalue for lab in d])
    r = _row(g, "noisy", 0.1)
    assert r["vs_zero_pct"] == pytest.approx(100 * d["noisy_s0.1"].mean() / zero.mean())
    assert r["vs_zero_pct"] == pytest.approx(-100 * 0.05 / 1.125, rel=1e-3)
    assert r["vs_zero_p_holm"] == pytest.approx(p[1])
    assert r["vs_zero_ci_low"] < r["vs_zero_pct"] < r["vs_zero_ci_high"] < 0
    m, lo, hi = zero.mean(), *stats.t.interval(0.95, SEEDS - 1, zero.mean(), stats.sem(zero))
    z = _row(g, "noisy", 0)
    assert (z["label"], z["mean"], z["ci_low"], z["ci_high"]) == ("zero", pytest.approx(m), pytest.approx(lo),
                                                                   pytest.approx(hi))
    # learned_noisy: against zero and against learned (its own σ = 0 end)
    assert _row(g, "learned_noisy", 0)["vs_learned_verdict"] == "reference"
    assert _row(g, "learned_noisy", 0)["vs_zero_verdict"] == "better"  # learned − zero = −1.8%, a family of one
    assert _row(g, "learned_noisy", 1.0)["vs_learned_verdict"] == "worse"
    assert _row(g, "learned_noisy", 0.03)["vs_learned_verdict"] == "negligible"
    assert _row(g, "learned_noisy", 0.3)["vs_learned_pct"] == pytest.approx(-100 * 0.015 / 1.125, rel=1e-2)
    b = t["best"].set_index("family")
    assert b.loc["noisy", "best_sigma"] == 0.1 and b.loc["noisy", "set_sigmas"] == "0.1"
    assert b.loc["noisy", "best_vs_sigma0_verdict"] == "better"
    assert b.loc["learned_noisy", "best_sigma"] == 0.3 and b.loc["learned_noisy", "best_label"] == "learned_noisy"
    # σ = 0.1 differs from 0.3 by 0.005 ± 0.02 per seed: not significant, in the set; the others are out
    assert b.loc["learned_noisy", "set_sigmas"] == "0.1, 0.3"
    assert (b.loc["learned_noisy", "set_low"], b.loc["learned_noisy", "set_high"]) == (0.1, 0.3)
    assert b.loc["learned_noisy", "set_contiguous"]
    ln = g[g["family"] == "learned_noisy"].set_index("sigma")
    assert list(ln["in_best_set"]) == [False, False, True, True, False]


def test_relative_sigma_is_sigma_over_the_zero_runs_rms():
    runs, curves = make_runs(rms_h=(0.4, 0.6), rms_c=2.0)
    t = N.tables(runs, curves)
    r = _row(t["grid"], "noisy", 0.1)
    assert r["rel_sigma_h"] == pytest.approx(0.1 / 0.5) and r["rel_sigma_c"] == pytest.approx(0.1 / 2.0)
    assert t["seeds"].iloc[0][["rms_h", "rms_c"]].tolist() == [pytest.approx(0.5), pytest.approx(2.0)]
    b = t["best"].set_index("family")
    assert b.loc["learned_noisy", "set_rel_low"] == pytest.approx(0.2)
    assert b.loc["learned_noisy", "set_rel_high"] == pytest.approx(0.6)


def test_a_dataset_without_the_grid_is_left_out():
    other = make_runs("other")[0]
    runs = pd.concat([make_runs("ds")[0], other[~other["label"].str.contains("_s")]])
    kept, seeds = N.complete_blocks(runs)
    assert set(kept["dataset"]) == {"ds"} and list(seeds["dataset"]) == ["ds"]


def test_incomplete_seeds_are_dropped():
    runs, curves = make_runs()
    extra = [{"dataset": "ds", "strategy": lab, "label": lab, "seed": s, "diverged": False, "test_at_best": 50.0,
              "best_epoch": 2, "noise_std": 0.3, "state_rms_h": 7.0, "state_rms_c": 7.0}
             for lab in ("zero", "learned", "noisy", "learned_noisy", "adaptive") for s in range(10, 30)]
    diverged = runs[(runs["label"] == "noisy_s1.0") & (runs["seed"] == 0)].assign(diverged=True, seed=40)
    more = pd.concat([runs, pd.DataFrame(extra), diverged], ignore_index=True)
    a, b = N.tables(runs, curves), N.tables(more, curves)
    pd.testing.assert_frame_equal(a["grid"], b["grid"])
    pd.testing.assert_frame_equal(a["best"], b["best"])
    s = b["seeds"].iloc[0]
    assert (s["seeds"], s["seeds_dropped"], s["diverged"]) == (SEEDS, 21, 1)
    # a diverged run of a complete seed drops that seed for every label
    div = runs.copy()
    div.loc[(div["label"] == "noisy_s1.0") & (div["seed"] == 5), "diverged"] = True
    c = N.tables(div, curves)
    assert (c["grid"]["n"] == SEEDS - 1).all() and c["seeds"].iloc[0]["seeds"] == SEEDS - 1


def test_answer_recommends_a_relative_range_across_datasets():
    r1, c1 = make_runs("a", rms_h=(0.5, 0.5))  # σ / RMS = 0.06, 0.2, 0.6, 2
    r2, c2 = make_runs("b", rms_h=(1.0, 1.0), adaptive_sigma=[0.5] * SEEDS)  # 0.03, 0.1, 0.3, 1
    t = N.tables(pd.concat([r1, r2]), pd.concat([c1, c2]))
    ans = t["answer"].set_index("family")
    # pooled by σ / RMS: 0.03 0.06 0.1 0.2 0.3 0.6 are all better or negligible, 1 and 2 are worse
    assert (ans.loc["noisy", "range_low"], ans.loc["noisy", "range_high"]) == (pytest.approx(0.03), pytest.approx(0.6))
    assert ans.loc["noisy", "helps_on"] == "a, b"
    assert "σ=1" in ans.loc["noisy", "hurts"] and "no σ helps" not in ans.loc["noisy", "text"]
    # adaptive: median 0.1 on a (σ/RMS 0.2: inside the range, inside noisy's set {0.1}); 0.5 on b (0.5: in range, not in set)
    a = t["adaptive"].set_index("dataset")
    assert a.loc["a", "sigma_median"] == pytest.approx(0.1) and a.loc["a", "rel_median"] == pytest.approx(0.2)
    assert a.loc["a", "in_noisy_set"] and a.loc["a", "in_learned_noisy_set"]
    assert not a.loc["b", "in_noisy_set"] and not a.loc["b", "in_learned_noisy_set"]
    assert (a.loc["a", "sigma_min"], a.loc["a", "sigma_max"]) == (0.08, 0.12)
    assert ans.loc["noisy", "adaptive_in_range"] == "2 of 2" and ans.loc["noisy", "adaptive_in_set"] == "1 of 2"


def test_common_range_is_broken_by_a_point_that_is_not_ok():
    p = pd.DataFrame({"dataset": ["b", "a", "b", "a", "b", "a"], "x": [0.03, 0.06, 0.1, 0.2, 0.3, 0.6],
                      "verdict": ["negligible", "better", "better", "negligible", "worse", "negligible"]})
    assert N.common_range(p, "x") == (0.03, 0.2)
    p.loc[1, "verdict"] = "inconclusive"  # now no run holds a point of both datasets before 0.3 ... except 0.1–0.2
    assert N.common_range(p, "x") == (0.1, 0.2)
    p.loc[3, "verdict"] = "worse"
    assert N.common_range(p, "x") is None


def test_no_sigma_helps_here_and_adaptive_outside_the_set():
    losses = {k: v for k, v in LOSSES.items()}
    losses["noisy_s0.1"] = ("noisy", 0.1, BASE + jitter(2))
    losses["learned_noisy_s0.1"] = ("learned_noisy", 0.1, BASE - 0.02 + jitter(10))
    losses["learned_noisy"] = ("learned_noisy", 0.3, BASE - 0.02 + jitter(7))
    runs, curves = make_runs(losses=losses, adaptive_sigma=[2.0] * SEEDS)
    t = N.tables(runs, curves)
    ans = t["answer"].set_index("family")
    for fam in ("noisy", "learned_noisy"):
        assert ans.loc[fam, "text"].startswith("no σ helps here"), ans.loc[fam, "text"]
        assert "σ=1" in ans.loc[fam, "hurts"] and np.isnan(ans.loc[fam, "range_low"])
    b = t["best"].set_index("family")
    assert 1.0 not in [float(x) for x in b.loc["noisy", "set_sigmas"].split(", ")]
    a = t["adaptive"].iloc[0]
    assert a["sigma_median"] == 2.0 and not a["in_noisy_set"]  # 2.0 lies above every σ of the set
    assert "inside noisy's best-σ confidence set on 0 of 1" in ans.loc["noisy", "text"]


# --- end to end on hand-written run records ------------------------------------------------------------


def write_run(root: Path, dataset: str, strategy: str, label: str, seed: int, test: float, sigma: float,
              rms: float = 0.5) -> None:
    """One run directory as the harness writes it (the keys the study reads)."""
    d = root / dataset / label / f"seed={seed}"
    d.mkdir(parents=True, exist_ok=True)
    rows = []
    for e in range(4):
        m = {"epoch": e, "train_loss": 1.0 - 0.1 * e, "train_loss_clean": 1.0 - 0.1 * e, "val_loss": test + abs(e - 2)}
        if strategy == "adaptive":
            m |= {N.SIGMA_KEY: 0.3 * 0.5**e, "state/c0_noise_scale": 0.2 * 0.5**e, N.ERROR_KEY: 0.01 * 0.5**e}
        rows.append(m)
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = {"data": dataset, "task": "forecast", "regime": "windows", "strategy": strategy, "label": label, "seed": seed,
         "status": "finished", "diverged": False, "epochs_run": 4, "epochs_max": 4, "best_epoch": 2,
         "best_val_loss": test, "test_at_best": test, "noise_std": sigma, "state_rms": {"h": rms, "c": 2 * rms},
         "sizes": {"train": {"sequences": 10, "steps": 100}}}
    (d / "summary.json").write_text(json.dumps(s))


def test_analyze_noise_writes_every_file_and_section(tmp_path):
    sw = tmp_path / "sweeps" / "default"
    for ds, rms in (("japanese_vowels", 0.3), ("treering_windows", 0.8)):
        for label, (strat, sigma, loss) in LOSSES.items():
            for s in range(SEEDS):
                write_run(sw, ds, strat, label, s, float(loss[s]), sigma or 0.3, rms)
        for s in range(SEEDS):
            write_run(sw, ds, "adaptive", "adaptive", s, float(BASE[s]), 0.3, rms)
    for s in range(10, 13):  # the default profile's extra seeds: not a complete block
        write_run(sw, "japanese_vowels", "zero", "zero", s, 9.0, 0.3)
    out = tmp_path / "results" / "noise"
    res = analyze("noise", sw, out, command="make reproduce PROFILE=noise", sweep_seconds=600)
    assert res["runs"] == 2 * 11 * SEEDS + 3 and res["skipped"] == 0
    v = {(r["claim"], r["dataset"]): r["verdict"] for r in res["verdicts"]}
    assert v[("Q5 noisy σ=0.1", "japanese_vowels")] == "better"
    assert v[("Q5 learned_noisy σ=1", "treering_windows")] == "worse"
    for name, cols in (("noise_grid", N.GRID_COLUMNS), ("noise_best", N.BEST_COLUMNS),
                       ("noise_adaptive", N.ADAPTIVE_COLUMNS)):
        assert list(pd.read_csv(out / f"{name}.csv").columns) == cols
    assert len(pd.read_csv(out / "runs.csv")) == res["runs"] and (out / "curves.csv").exists()
    for fig in ("noise_vs_sigma", "noise_vs_relative_sigma", "adaptive_sigma"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000
    a = pd.read_csv(out / "noise_adaptive.csv").set_index("dataset")
    assert a.loc["japanese_vowels", "sigma_median"] == pytest.approx(0.3 * 0.25)  # σ at the best epoch (2)
    report = (out / "REPORT.md").read_text()
    for text in ("Generated", "## Protocol", "## The answer", "## Verdicts per σ", "## Best σ and its confidence set",
                 "## Where adaptive's σ ended", "make reproduce PROFILE=noise", "10.0 min", "noise off",
                 "covered by `learned_noisy`", "japanese_vowels 6", "figures/noise_vs_sigma.png"):
        assert text in report, text
    assert "git commit" in (out / "COMMAND.txt").read_text()
    # the CLI entry analyses the same way
    again = analyze("noise", sw, tmp_path / "again")
    assert again["verdicts"] == res["verdicts"]


def test_v3_grades_each_sigma_against_its_familys_end_in_the_task_metric():
    """Forecast MSE, δ = 1% of zero's: noisy σ = 0.1 is −0.05 on a mean of 1.125 (−4.4%): a relevant
    gain; σ = 1.0 a relevant harm; σ = 0.03 equals zero to 1e-4: negligible. learned_noisy is graded
    against learned (planted bug caught: the reference swapped to zero makes σ = 0.03 a gain)."""
    from replication.studies.noise import v3 as V3

    runs, curves = make_runs()
    runs["task"] = "forecast"
    t = V3.tables(runs, curves)["v3_noise_comparisons"].set_index(["a", "b"])
    assert t.loc[("noisy_s0.1", "zero"), "grade"] == "better, relevant"
    assert t.loc[("noisy_s0.1", "zero"), "mean_diff"] == pytest.approx(-100 * 0.05 / BASE.mean(), abs=1e-3)
    assert t.loc[("noisy_s1.0", "zero"), "grade"] == "worse, relevant"
    assert t.loc[("noisy_s0.03", "zero"), "grade"] == "negligible"
    assert t.loc[("learned_noisy_s0.03", "learned"), "grade"] == "negligible"
    assert t.loc[("learned_noisy_s1.0", "learned"), "grade"] == "worse, relevant"
    assert t.loc[("noisy_s0.1", "zero"), "sigma"] == 0.1 and t.loc[("noisy", "zero"), "sigma"] == 0.3
    # one Holm family per dataset and family: four σ points each, adaptive alone
    fam = t.reset_index().groupby("family")["a"].count().to_dict()
    assert fam == {"ds · noisy": 4, "ds · learned_noisy": 4, "ds · adaptive": 1}
