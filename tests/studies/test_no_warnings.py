"""Every study's analysis runs without a warning (issue 21, item 11): v1 repeated pandas warnings
once per comparison, and the noise and conditioned analyses still warned (``str.contains`` with a
regex holding groups; a chained assignment). Each study reads a sweep of its own kind, with the
cases that used to warn: a diverged run, a seed only ``zero`` has, a single dataset.

Sweeps are written by hand, never trained."""

import warnings
from pathlib import Path

import pytest
from test_claims_analysis import make_sweep, write_run
from test_conditioned import make_sweep as conditioned_sweep
from test_noise import BASE, LOSSES, SEEDS
from test_noise import write_run as noise_run
from test_r2rt import write_word_run

from replication.studies import all_studies
from replication.studies.runner import analyze

CLAIMS = ("zero", "noisy", "learned", "learned_noisy", "adaptive")


def claims_sweep(root: Path) -> Path:
    sw = make_sweep(root, datasets=("synthetic_short", "synthetic_long", "japanese_vowels"), labels=CLAIMS, seeds=3)
    write_run(sw, "synthetic_short", "learned", 1, diverged=True)
    write_run(sw, "japanese_vowels", "noisy", 0, diverged=True)
    write_run(sw, "synthetic_long", "zero", 5)  # a seed with only a zero run
    return sw


def word_sweep(root: Path) -> Path:
    for label in CLAIMS[:4]:
        for seed in range(3):
            write_word_run(root, label, seed, {"learned": -0.1, "noisy": -0.02}.get(label, 0.0) + 0.003 * seed)
    return root


def noise_sweep(root: Path) -> Path:
    for label, (strategy, sigma, loss) in LOSSES.items():
        for s in range(SEEDS):
            noise_run(root, "japanese_vowels", strategy, label, s, float(loss[s]), sigma or 0.3, 0.3)
    for s in range(SEEDS):
        noise_run(root, "japanese_vowels", "adaptive", "adaptive", s, float(BASE[s]), 0.3, 0.3)
    noise_run(root, "japanese_vowels", "zero", "zero", 10, 9.0, 0.3)  # a seed only zero has
    return root


def one_of_conditioned(root: Path) -> Path:
    conditioned_sweep(root, {"fc": {"encoder": -0.1, "learned": -0.02}, "cls": {"encoder": 0.01}}, seeds=4,
                      tasks={"cls": "classify"})
    (root / "fc" / "encoder" / "seed=3" / "summary.json").unlink()  # half-finished
    return root


def small_sweep(root: Path) -> Path:
    """One dataset, two strategies: one short row of forest-plot panels under a two-line title."""
    return make_sweep(root, labels=("zero", "noisy"), seeds=3)


# One case per analysis function (default and full share one, so do r2rt and r2rt_cpu).
CASES = {"default": ("default", claims_sweep), "default, one dataset": ("default", small_sweep),
         "yours": ("yours", claims_sweep), "r2rt_cpu": ("r2rt_cpu", word_sweep), "noise": ("noise", noise_sweep),
         "conditioned": ("conditioned", one_of_conditioned)}


def test_every_study_s_analysis_is_covered():
    studies = all_studies()
    assert {studies[name].analysis for name, _ in CASES.values()} == {s.analysis for s in studies.values()}


@pytest.mark.parametrize("case", list(CASES))
def test_analysis_emits_no_warnings(case, tmp_path):
    name, build = CASES[case]
    sweep = build(tmp_path / "sweep")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = analyze(name, sweep, tmp_path / "out")
    assert res["runs"] > 0 and (tmp_path / "out" / "REPORT.md").exists()
    assert [f"{w.filename}:{w.lineno}: {w.message}" for w in caught] == []
