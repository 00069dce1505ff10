"""The noise study's outputs (Q5): three figures and ``REPORT.md`` from :mod:`.tables`' tables. Figures
are drawn with :mod:`replication.analysis.plotting` and return ``None`` when their table holds nothing
to draw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from replication.analysis.fmt import ci, num, pct, table_md
from replication.analysis.plotting import COLORS, band, grid_axes, plt, save
from replication.analysis.protocol import ALPHA, DELTA
from replication.analysis.sections import skipped_section

from . import tables as N

CI_TEXT = "Holm-adjusted paired t-intervals over seeds (the intervals the verdicts are read from)"
CI_SHORT = "bars: Holm-adjusted paired t-intervals (the verdicts')"


def _fam_color(fam: str) -> str:
    return COLORS.get(fam, "#9467bd")


def _ds_colors(datasets) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {ds: cmap(i % 10) for i, ds in enumerate(sorted(datasets))}


def _err(v, lo, hi) -> np.ndarray:
    """``(2, n)`` error-bar lengths; missing bounds draw no bar."""
    v, lo, hi = (np.asarray(a, dtype=float) for a in (v, lo, hi))
    return np.nan_to_num(np.vstack([v - lo, hi - v]), nan=0.0)


def sigma_figure(grid: pd.DataFrame, adaptive: pd.DataFrame, out: Path) -> Path | None:
    """Per dataset: test loss as % of zero's (paired) against σ on a log axis for noisy and learned_noisy,
    the σ = 0 references (zero: 0 with the ±δ band; learned: its own interval), adaptive's σ at the
    best epoch (median, range over seeds) at its own effect, and a star on each family's best σ."""
    pos = grid[grid["sigma"] > 0]
    datasets = sorted(pos["dataset"].unique())
    if not datasets:
        return None
    fig, axes = grid_axes(len(datasets), h=3.3)
    for ax, ds in zip(axes, datasets):
        g = grid[grid["dataset"] == ds]
        ax.axhspan(-100 * DELTA, 100 * DELTA, color="#bbbbbb", alpha=0.35, lw=0, label="zero (0) ± δ")
        ax.axhline(0, color=COLORS["zero"], lw=0.8)
        ln = g[(g["family"] == "learned_noisy") & (g["sigma"] == 0)]
        if len(ln) and np.isfinite(ln["vs_zero_pct"].iloc[0]):
            r = ln.iloc[0]
            ax.axhspan(r["vs_zero_ci_low"], r["vs_zero_ci_high"], color=COLORS["learned"], alpha=0.15, lw=0)
            ax.axhline(r["vs_zero_pct"], color=COLORS["learned"], lw=0.8, ls="--", label="learned (σ = 0)")
        for fam, shift in zip(N.FAMILIES, (0.95, 1.05)):  # side by side at each σ, not on top of each other
            p = g[(g["family"] == fam) & (g["sigma"] > 0)].sort_values("sigma")
            if p.empty:
                continue
            ax.errorbar(p["sigma"] * shift, p["vs_zero_pct"], yerr=_err(p["vs_zero_pct"], p["vs_zero_ci_low"],
                                                                p["vs_zero_ci_high"]),
                        fmt="o-", color=_fam_color(fam), ms=4, capsize=2, lw=1.3, label=fam)
            b = p[p["is_best"].astype(bool)]
            ax.plot(b["sigma"] * shift, b["vs_zero_pct"], "*", color=_fam_color(fam), ms=13, mec="k", mew=0.5)
        a = adaptive[adaptive["dataset"] == ds] if len(adaptive) else adaptive
        for r in a.itertuples():
            if np.isfinite(r.sigma_median):
                ax.errorbar([r.sigma_median], [r.vs_zero_pct],
                            xerr=[[r.sigma_median - r.sigma_min], [r.sigma_max - r.sigma_median]],
                            yerr=_err([r.vs_zero_pct], [r.vs_zero_ci_low], [r.vs_zero_ci_high]), fmt="D",
                            color=COLORS["adaptive"], ms=5, capsize=2, lw=1, label=f"{r.label} (σ at best epoch)")
        ax.set_xscale("log")
        ax.set_title(ds, fontsize=9)
        ax.set_xlabel("σ of the initial-state noise", fontsize=8)
        ax.set_ylabel("test loss vs zero (% of zero's)", fontsize=8)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=6)
    fig.suptitle(f"Test loss at the best-val epoch (noise off) against σ, % of zero's; {CI_SHORT}\n"
                 "★ lowest mean of each family; ◆ adaptive's σ at the best epoch (median, range over seeds)",
                 fontsize=8)
    return save(fig, out / "noise_vs_sigma.png")


def relative_figure(grid: pd.DataFrame, adaptive: pd.DataFrame, answer: pd.DataFrame, out: Path) -> Path | None:
    """One panel per family: the effect of the noise against the family's own σ = 0 end (noisy: zero,
    learned_noisy: learned) against σ / RMS(h), one line per dataset; the recommended range shaded;
    adaptive's median σ / RMS(h) as a triangle at the bottom, in its dataset's colour."""
    pos = grid[(grid["sigma"] > 0) & np.isfinite(grid["rel_sigma_h"].astype(float))]
    fams = [f for f in N.FAMILIES if f in set(pos["family"])]
    if not fams:
        return None
    colors = _ds_colors(pos["dataset"].unique())
    fig, axes = plt.subplots(1, len(fams), figsize=(6.2 * len(fams), 4.2), squeeze=False)
    for ax, fam in zip(axes.flat, fams):
        ref = N.FAMILIES[fam]
        ax.axhspan(-100 * DELTA, 100 * DELTA, color="#bbbbbb", alpha=0.35, lw=0)
        ax.axhline(0, color=COLORS[ref], lw=0.8)
        ans = answer[answer["family"] == fam] if len(answer) else answer
        if len(ans) and np.isfinite(ans["range_low"].iloc[0]) and ans["unit"].iloc[0].startswith("σ / RMS"):
            ax.axvspan(ans["range_low"].iloc[0], ans["range_high"].iloc[0], color="#4daf4a", alpha=0.15, lw=0,
                       label="recommended range")
        for ds, p in pos[pos["family"] == fam].groupby("dataset"):
            p = p.sort_values("sigma")
            c = f"vs_{ref}"
            ax.errorbar(p["rel_sigma_h"], p[f"{c}_pct"], yerr=_err(p[f"{c}_pct"], p[f"{c}_ci_low"], p[f"{c}_ci_high"]),
                        fmt="o-", color=colors[ds], ms=4, capsize=2, lw=1.2, label=ds)
        a = adaptive[np.isfinite(adaptive["rel_median"].astype(float))] if len(adaptive) else adaptive
        for r in a.itertuples():
            if r.dataset in colors:
                ax.plot([r.rel_median], [0.03], "^", color=colors[r.dataset], ms=8, mec="k", mew=0.5,
                        transform=ax.get_xaxis_transform())
        ax.set_xscale("log")
        ax.set_xlabel("σ / RMS(h) of the zero runs' state (▲ adaptive's σ at the best epoch)", fontsize=8)
        ax.set_ylabel(f"test loss vs {ref} (% of zero's)", fontsize=8)
        ax.set_title(f"{fam} against {ref}", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6)
    fig.suptitle(f"Does one fraction of the state's size work across datasets?\n{CI_SHORT}; grey band ±δ",
                 fontsize=8)
    return save(fig, out / "noise_vs_relative_sigma.png")


def adaptive_figure(curves: pd.DataFrame, kept: pd.DataFrame, best: pd.DataFrame, out: Path) -> Path | None:
    """Per dataset: adaptive's σ per epoch (h0 solid, c0 dashed; mean and range over seeds, log axis)
    with the start-of-sequence error estimate it follows (h0's EMA, right axis), and the hull of the
    noisy family's best-σ confidence set shaded."""
    if curves.empty or N.SIGMA_KEY not in curves:
        return None
    ok = kept.loc[kept["strategy"] == "adaptive", ["dataset", "label", "seed"]]
    c = curves.merge(ok, on=["dataset", "label", "seed"])
    c = c[c[N.SIGMA_KEY].notna()]
    datasets = sorted(c["dataset"].unique())
    if not datasets:
        return None
    fig, axes = grid_axes(len(datasets), w=4.4, h=3.3)
    for ax, ds in zip(axes, datasets):
        g = c[c["dataset"] == ds]
        handles = [band(ax, g, N.SIGMA_KEY, COLORS["adaptive"], spread="range", label="σ of h0")]
        if N.SIGMA_C_KEY in g:
            handles.append(band(ax, g, N.SIGMA_C_KEY, COLORS["adaptive"], style="--", spread="range", label="σ of c0", alpha=0.08))
        ax.set_yscale("log")
        b = best[(best["dataset"] == ds) & (best["family"] == "noisy")]
        if len(b):
            lo, hi = ax.get_ylim()
            low = b["set_low"].iloc[0] if b["set_low"].iloc[0] > 0 else lo
            handles.append(ax.axhspan(low, b["set_high"].iloc[0], color=COLORS["noisy"], alpha=0.12, lw=0,
                                      label=f"noisy's best-σ set {{{b['set_sigmas'].iloc[0]}}}"))
            ax.set_ylim(min(lo, low), max(hi, b["set_high"].iloc[0] * 1.2))
        if N.ERROR_KEY in g and g[N.ERROR_KEY].notna().any():
            tw = ax.twinx()
            handles.append(band(tw, g, N.ERROR_KEY, "#777777", style=":", spread="range", label="error EMA of h0 (right)", alpha=0.06))
            tw.set_ylabel("start-of-sequence error (EMA of |∂L/∂h0|)", fontsize=7)
            tw.tick_params(labelsize=7)
        ax.set_title(ds, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("adaptive's σ", fontsize=8)
        ax.grid(alpha=0.3, which="both")
        handles = [h for h in handles if h is not None]
        ax.legend(handles, [h.get_label() for h in handles], fontsize=6, loc="best")
    fig.suptitle("Adaptive's σ over training and the start-of-sequence error it follows (mean over seeds; "
                 "bands: range over seeds)", fontsize=9)
    return save(fig, out / "adaptive_sigma.png")


def figures(t: dict, curves: pd.DataFrame, out: Path) -> list[Path]:
    """The three figures of the study under ``out`` (the paths written)."""
    paths = [sigma_figure(t["grid"], t["adaptive"], out), relative_figure(t["grid"], t["adaptive"], t["answer"], out),
             adaptive_figure(curves, t["kept"], t["best"], out)]
    return [p for p in paths if p is not None]


def _effect(r, prefix: str) -> tuple[str, str]:
    v = r.get(f"{prefix}_verdict")
    if v == "reference":
        return "0 (reference)", ""
    if not isinstance(v, str):
        return "", ""
    return ci(r[f"{prefix}_pct"], r[f"{prefix}_ci_low"], r[f"{prefix}_ci_high"], pct), v


PROTOCOL = f"""\
- **Fixed before the grid was run** (`conf/experiment/noise.yaml`): the grid σ ∈ {{0, 0.03, 0.1, 0.3, 1.0}}
  for `noisy` and `learned_noisy` (σ = 0 is `zero` and `learned`, the ends of the two curves), the endpoint,
  the effect, the verdict rules and the measure of the state's size below.
- **Reuse.** The grid is added to the default profile's sweep: its `zero`, `learned`, `noisy` (σ = 0.3),
  `learned_noisy` (σ = 0.3) and `adaptive` runs are reused, not rerun (same run key: same config and data).
  Only complete paired blocks enter: on each dataset, the seeds for which every label finished, so
  japanese_vowels' extra seeds of the default profile are not used.
- **Endpoint.** Test loss at the epoch of best validation loss. The noise is on only in training: every
  validation and test loss is measured with the noise off, so a larger σ is not charged for the noise itself.
- **The noise mean.** `noisy` draws N(0, σ²) around zero; `learned_noisy` draws N(s, σ²) around the learned
  state s, so the best mean is learned along with the model. The mean is covered by `learned_noisy`; the
  grid varies σ.
- **Effect and verdicts** (protocol v2, α = {ALPHA:g}, δ = {100 * DELTA:g}% of zero's mean): the mean paired
  difference (same seed) as % of zero's mean test loss; paired t-test, Holm within a family, the
  t-interval at level 1 − α/c that agrees with it, and the verdict read off that interval: `better` /
  `worse` (wholly below / above 0 and not negligible), `negligible` (inside ±δ), else `inconclusive`.
  Families: the σ > 0 points of one strategy on one dataset against zero; for `learned_noisy` also the
  same points against `learned` (the effect of the noise on top of a learned state). `learned` vs zero
  and `adaptive` vs zero are families of one.
- **State's size.** RMS of h (and c) over the validation data, final model of each `zero` run, averaged
  over its seeds; σ is also given as a fraction of it (σ / RMS).
- **Best σ.** The grid point (σ = 0 included) with the lowest mean test loss, and its confidence set:
  every σ whose paired difference to the best is not significantly above 0 (paired t, Holm over the
  other points of the family, α = {ALPHA:g}). Its hull is the interval reported for the best σ.
- **Adaptive.** σ of h0 at each adaptive run's best epoch (median and range over seeds); "inside" means
  the median lies between the smallest and largest σ of a family's best-σ set.
- **Plain answer.** Per family, against its own σ = 0 end (noisy: zero; learned_noisy: learned): a range
  of σ / RMS(h) is recommended when, pooling every dataset's grid points sorted by σ / RMS(h), a run of
  consecutive points that are all `better` or `negligible` holds a point of every dataset (the widest such
  run); "no σ helps here" when no point is `better` on any dataset. Computed from the tables, never
  written by hand."""


def _seeds_md(seeds: pd.DataFrame) -> str:
    t = seeds.rename(columns={"labels": "labels", "seeds": "seeds used (complete blocks)",
                              "seeds_dropped": "seeds dropped (incomplete)", "diverged": "diverged runs",
                              "rms_h": "RMS(h), zero", "rms_c": "RMS(c), zero"})
    return table_md(t)


def _grid_md(g: pd.DataFrame) -> str:
    rows = []
    for r in g.to_dict("records"):
        z, zv = _effect(r, "vs_zero")
        lr, lv = _effect(r, "vs_learned") if r["family"] == "learned_noisy" else ("", "")
        best = "best" if r["is_best"] else ("in set" if r["in_best_set"] else "out")
        rows.append([r["family"], f"{r['sigma']:g}", num(r["rel_sigma_h"]), num(r["rel_sigma_c"]), r["label"],
                     ci(r["mean"], r["ci_low"], r["ci_high"], lambda v: num(v, 4)), z, zv, lr, lv, best])
    return table_md(pd.DataFrame(rows, columns=["family", "σ", "σ/RMS(h)", "σ/RMS(c)", "label", "test loss [95% CI]",
                                                "vs zero [interval]", "verdict vs zero", "vs learned [interval]",
                                                "verdict vs learned",
                                                "best-σ set"]))


def _best_md(b: pd.DataFrame) -> str:
    rows = [[r.dataset, r.family, r.n, f"{r.best_sigma:g}", num(r.best_rel_sigma_h),
             ci(r.best_mean, r.best_ci_low, r.best_ci_high, lambda v: num(v, 4)),
             "reference" if r.best_vs_sigma0_verdict == "reference" else
             f"{pct(r.best_vs_sigma0_pct)} ({r.best_vs_sigma0_verdict})",
             f"{{{r.set_sigmas}}}", f"{r.set_low:g}–{r.set_high:g}", f"{num(r.set_rel_low)}–{num(r.set_rel_high)}",
             "yes" if r.set_contiguous else "no"] for r in b.itertuples()]
    return table_md(pd.DataFrame(rows, columns=["dataset", "family", "seeds", "best σ", "best σ/RMS(h)",
                                                "test loss [95% CI]", "vs σ = 0", "confidence set",
                                                "σ interval", "σ/RMS(h) interval", "contiguous"]))


def _adaptive_md(a: pd.DataFrame) -> str:
    yn = {True: "yes", False: "no"}
    rows = [[r.dataset, r.label, r.n, num(r.sigma_start), f"{num(r.sigma_median)} ({num(r.sigma_min)}–{num(r.sigma_max)})",
             f"{num(r.rel_median)} ({num(r.rel_min)}–{num(r.rel_max)})", num(r.sigma_c_median),
             f"{ci(r.vs_zero_pct, r.vs_zero_ci_low, r.vs_zero_ci_high, pct)} ({r.vs_zero_verdict})",
             f"{yn.get(r.in_noisy_set, '–')} ({{{r.noisy_set}}})",
             f"{yn.get(r.in_learned_noisy_set, '–')} ({{{r.learned_noisy_set}}})"] for r in a.itertuples()]
    return table_md(pd.DataFrame(rows, columns=["dataset", "label", "seeds", "σ at start", "σ(h0) at best epoch: median (range)",
                                                "σ/RMS(h): median (range)", "σ(c0) median", "test vs zero [interval]",
                                                "inside noisy's set", "inside learned_noisy's set"]))


def render(t: dict, meta: dict, figs: list[Path], skipped: list, missing: str = "",
           v3: tuple[list[str], str] | None = None) -> str:
    """REPORT.md of the study from :func:`.noise.tables`' tables and ``meta`` (command, commit, sweep, wall);
    ``v3``: (answer lines, section) under protocol v3, printed before v2's analysis;
    ``missing``: the section on the runs a half-finished sweep lacks (:func:`~replication.analysis.sections.missing_section`)."""
    seeds, g, b, a, ans = t["seeds"], t["grid"], t["best"], t["adaptive"], t["answer"]
    n = ", ".join(f"{r.dataset} {r.seeds}" for r in seeds.itertuples())
    lines = ["# Q5: how large should the initial-state noise be? (noise-scale study)", "",
             "*Generated by `replication.studies.noise` (`python -m replication.studies analyze noise`); do not "
             "edit by hand, rerun the analysis.*", "",
             f"**Setup.** Command `{meta['command']}`; commit `{meta['commit']}`; sweep `{meta['sweep']}`; sweep wall "
             f"time {meta['sweep_wall']}; {meta['runs']} runs read. Seeds per dataset (complete paired blocks): {n}.", "",
             *(["## The answer under protocol v3", "", *v3[0], "", v3[1], "",
                "# Protocol v2's analysis (superseded by v3, kept beside it)", ""] if v3 else []),
             "## Protocol", "", PROTOCOL, "", "## The answer", ""]
    if ans.empty:
        lines.append("No answer: no dataset has a σ > 0 point with a complete block of seeds.")
    lines += [f"- **{r.family}** (against {r.reference}): {r.text}" for r in ans.itertuples()]
    for fam, bf in b.groupby("family", sort=False):
        at0 = bf.loc[bf["best_sigma"] == 0, "dataset"]
        lines.append(f"- The lowest mean of **{fam}** lies at σ from {bf['best_sigma'].min():g} to "
                     f"{bf['best_sigma'].max():g} over the {len(bf)} dataset(s) (σ/RMS(h) {num(bf['best_rel_sigma_h'].min())}"
                     f" to {num(bf['best_rel_sigma_h'].max())})" + (f"; at σ = 0 on {', '.join(at0)}" if len(at0) else "")
                     + "; each with its confidence set in the table below.")
    lines += ["", "## Seeds and the size of the state", "", _seeds_md(seeds), "", "## Verdicts per σ", "",
              f"Test loss: mean over the seeds with its 95% t-interval. Effects: % of zero's mean, {CI_TEXT}. "
              "Best-σ set: `best` (lowest mean of the family), `in set` (not significantly worse than it), `out`.", ""]
    for ds, gd in g.groupby("dataset", sort=True):
        lines += [f"### {ds}", "", _grid_md(gd), ""]
    lines += ["## Best σ and its confidence set", "", _best_md(b) if len(b) else "(none)", "",
              "## Where adaptive's σ ended", "",
              "`adaptive` starts at σ = noise_std and rescales it by the running size of the gradient that reaches h0 "
              "(`initstate.strategies.adaptive`). Below: its σ at each run's best epoch.", "",
              _adaptive_md(a) if len(a) else "(no adaptive runs)", "", "## Figures", ""]
    lines += [f"![{f.name}](figures/{f.name})\n" for f in figs]
    lines += [skipped_section(skipped), "", missing, ""]
    return "\n".join(lines).rstrip() + "\n"


def verdict_list(grid: pd.DataFrame) -> list[dict]:
    """``[{claim, dataset, verdict}]``: each σ > 0 point against its family's σ = 0 end."""
    out = []
    for r in grid[grid["sigma"] > 0].itertuples():
        ref = N.FAMILIES[r.family]
        v = getattr(r, f"vs_{ref}_verdict")
        out.append({"claim": f"Q5 {r.family} σ={r.sigma:g}", "dataset": r.dataset,
                    "verdict": v if isinstance(v, str) else "inconclusive"})
    return out
