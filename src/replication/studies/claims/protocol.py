"""The claims study's protocol (v2): which claims, which datasets pair up for H4, which verdicts the
regime gate applies to, the blog's strategies and numbers, and the method text the report prints
before any result. The shared constants (α, δ, endpoints) are :mod:`replication.analysis.protocol`'s."""

from __future__ import annotations

from replication.analysis.protocol import ALPHA, DELTA, POWER, REGIME_GATE

# The blog's strategies, bundled in C1; any other label (adaptive, a custom one) is exploratory.
BLOG_STRATEGIES = ("noisy", "learned", "learned_noisy")
# short-many member, long-few member of each H4 pair
PAIRS = {
    "synthetic": ("synthetic_short", "synthetic_long"),
    "shakespeare": ("shakespeare_windows", "shakespeare_stateful"),
    "treering": ("treering_windows", "treering_stateful"),
}
# r2rt's best validation perplexities on PTB (one run per variant; docs/reference.md)
BLOG_PPL = {"zero": 162.42, "learned": 147.41, "noisy": 154.25, "learned_noisy": 145.26}
GATED = ("C1-generalize", "C2")

CLAIMS = {
    "C1-faster": "every non-zero initial state (noisy, learned, learned_noisy) trains faster than zero "
                 "(area under the clean training-loss curve)",
    "C1-generalize": "every non-zero initial state generalizes better than zero (test loss at the best-val epoch)",
    "C2": "learned beats noisy (test loss at the best-val epoch)",
    "C3": "noise on a learned state adds nothing (learned_noisy ≈ learned within ±δ)",
    "H4": "learning helps more with many short sequences, noise with few long ones (two differences-in-"
          "differences of the test loss, short-many minus long-few)",
    "H4-early": "H4 on the early-position test loss (first k steps after each sequence start)",
}

WHY_V2 = (
    "Protocol v2 was fixed after the v1 results (`results/default_v1/`, appendix) had been seen, because "
    "a review of them found that v1's verdicts did not answer the question: C1-faster was scored on a "
    "training loss that contains the strategies' own noise; any significant effect counted, however small; "
    "5 seeds with Holm over all 28 comparisons of a claim could detect only effects of about 4 SD; "
    "percentile-bootstrap intervals are too narrow at n = 5; the runs were underfit while the claims are "
    "about overfitting; H4's single contrast mixed its two halves; and C1 bundled `adaptive`, which is not "
    "one of the blog's strategies. v2 is frozen for every later profile."
)


def protocol_text(delta: float = DELTA, alpha: float = ALPHA, gate: float = REGIME_GATE) -> str:
    """The method as Markdown bullet points (printed in REPORT.md before the results)."""
    d = f"{100 * delta:g}%"
    return f"""\
- **Endpoints.** *C1-faster*: area under the **clean** training-loss curve (`train_loss_clean`:
  evaluation mode, noise off, over the training split or a fixed seeded subset of it), trapezoid over
  epochs divided by the number of intervals, over the first E epochs, E = the fewest epochs any
  non-diverged run of that dataset completed (early stopping makes runs differ in length). The area
  under the in-training loss (noise included) is shown beside it as a labelled secondary column and
  decides nothing. *C1-generalize, C2, C3, H4*: test loss at the epoch of best validation loss.
  *H4-early*: the early-position test loss (mean loss over the first k steps after each sequence start)
  at that epoch. The generalization gap is validation loss − clean training loss. Runs that diverged
  are left out; a seed enters a comparison when both of its runs finished.
- **Effect.** The mean over paired seeds of d = metric(a) − metric(b), as **% of zero's mean** on that
  dataset (the mean over its non-diverged zero runs; b's mean where a dataset has no zero run).
  Negative: a has the lower loss.
- **Margin.** δ = {d} of zero's mean loss (r2rt's smallest gain, −5% perplexity, is about 1% of zero's
  loss in nats). A sensitivity table repeats every verdict at δ = 0.5% and 2%.
- **Tests and intervals** (α = {alpha:g}). Paired t-test of d (two-sided); Holm's correction within a
  family, and a family is the comparisons of one claim on one dataset. The interval is the t-interval of
  the mean of d at confidence 1 − α/c, where c = (Holm-adjusted p, before capping at 1) / p is the
  factor Holm applied to that comparison (1 ≤ c ≤ family size): the interval excludes 0 exactly when
  the Holm-adjusted p < α. The equivalence test is two one-sided t-tests against ±δ, each at level
  α/(2c), i.e. the same interval lies inside (−δ, +δ); it is reported as p_equiv = 2c·max(p₋, p₊).
  No bootstrap.
- **Verdict of a comparison.** `negligible` if the interval lies inside ±δ (p_equiv < α); `better` if
  it lies wholly below 0 and the effect is not negligible (Holm p < α, p_equiv ≥ α); `worse` likewise
  above 0; `inconclusive` otherwise, and whenever fewer than 2 paired seeds exist. So a precisely
  measured 0.01% effect is negligible, not better, and interval and verdict cannot disagree.
- **Verdict of a claim on a dataset.** C1-faster and C1-generalize bundle the blog's strategies (noisy,
  learned, learned_noisy; those present) against zero; C2 is learned vs noisy. `supported` if every
  comparison goes the claimed way (each is already Holm-adjusted, which is conservative: an
  intersection–union test needs no adjustment), `contradicted` if any goes significantly the other way,
  `negligible` if all are negligible, `inconclusive` otherwise. C3 is an equivalence claim
  (learned_noisy vs learned): `supported` if negligible, `contradicted` if better or worse,
  `inconclusive` otherwise. `adaptive` and any other label form their own one-comparison families,
  reported separately as exploratory (e.g. `C1-generalize [adaptive]`).
- **Regime gate.** C1-generalize and C2 (and their exploratory rows) count on a dataset only when at
  least {100 * gate:g}% of its non-diverged runs reach their best validation epoch before the last epoch
  they ran (best_epoch < epochs_run − 1); otherwise the verdict is `out of regime`, with the fraction
  shown. The claims are about overfitting, so an underfit dataset cannot test them. C1-faster, C3 and
  H4 are not gated.
- **H4.** For each pair (short-many, long-few) and strategy s ∈ {{learned, noisy}}: DiD_s = mean over
  seeds of (s − zero)/zero's mean on the short-many member − the same on the long-few member, in
  percentage points of zero's loss; Welch t-test and interval (the members are separate samples);
  δ = {d} points; family = the two DiDs of a pair. H4 predicts DiD_learned < 0 and DiD_noisy > 0:
  `supported` if both go that way, `contradicted` if either goes the other way, `negligible` if both
  are negligible. H4-early repeats this on the early-position endpoint, where the initial state of
  the stateful arm acts.
- **Across datasets.** For each comparison, a DerSimonian–Laird random-effects estimate of the %
  effect over datasets with its 95% (normal) interval, from statsmodels' `combine_effects`, each
  dataset weighted by the variance of its mean paired difference (% of zero); H4's DiDs are pooled
  over the pairs. Descriptive: no verdict, no further multiplicity correction.
- **Power.** Per dataset, the minimum detectable effect at {100 * POWER:g}% power of a two-sided paired
  t-test at α/m (Holm's strictest step, m = the C1 bundle's size) with the seeds used, in SDs of the
  paired difference (statsmodels `TTestPower`) and in % of zero's loss (× the RMS paired SD of the C1
  comparisons)."""
