"""The noise-scale study (Q5: how large should the initial-state noise be?) as tables, from
:func:`.collect.collect`'s ``runs`` and ``curves``. Pure pandas/numpy/scipy; the statistics are
:mod:`.stats` (paired t, Holm, :func:`.stats.judge`) under protocol v2's α and δ (:mod:`.protocol`).

Two families of grid points per dataset: ``noisy`` (σ = 0 is ``zero``) and ``learned_noisy``
(σ = 0 is ``learned``); σ = 0.3 is the plain ``noisy``/``learned_noisy`` label, other σ carry it in
the label (``noisy_s0.1``). Only complete paired blocks enter: on each dataset, the seeds for which
every label of the study finished (not diverged, a test loss), so every comparison and the best-σ
set use the same seeds (japanese_vowels' extra seeds of the default profile drop out).

Tables (:func:`tables`):

- ``seeds``: dataset, labels, seeds (used), seeds_dropped (with some but not every label),
  diverged (runs), rms_h, rms_c (mean RMS of the state over the validation data, zero runs).
- ``grid`` (:data:`GRID_COLUMNS`): one row per dataset × family × σ: n, mean test loss with its
  95% t-interval, σ / RMS(h) and σ / RMS(c), the paired effect vs zero (and for learned_noisy also
  vs learned) as % of zero's mean with the Holm-adjusted interval and verdict, and vs the family's
  best σ (% of zero, Holm p, membership of the best-σ confidence set).
- ``best`` (:data:`BEST_COLUMNS`): per dataset × family the σ with the lowest mean test loss and
  its confidence set, absolute and relative.
- ``adaptive`` (:data:`ADAPTIVE_COLUMNS`): where adaptive's σ was at each run's best epoch.
- ``answer`` (:data:`ANSWER_COLUMNS`): per family the recommended relative-σ range and its text.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from replication.analysis import stats as S
from replication.analysis.protocol import ALPHA, DELTA, GENERALIZE
from replication.records import state_key

FAMILIES = {"noisy": "zero", "learned_noisy": "learned"}  # family -> the label that is its σ = 0 end
DEFAULT_SIGMA = 0.3  # σ of the plain labels (conf/init_state/*.yaml: r2rt's 0.3)
STUDY = ("zero", "learned", "noisy", "learned_noisy", "adaptive")
OK = ("better", "negligible")
SIGMA_KEY, ERROR_KEY = state_key("h0", "noise_scale"), state_key("h0", "error_ema")  # adaptive's diagnostics()
SIGMA_C_KEY = state_key("c0", "noise_scale")
_SUFFIX = re.compile(r"_s([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)$")

GRID_COLUMNS = ["dataset", "family", "sigma", "label", "n", "mean", "ci_low", "ci_high", "rel_sigma_h",
                "rel_sigma_c", "vs_zero_pct", "vs_zero_ci_low", "vs_zero_ci_high", "vs_zero_p_holm",
                "vs_zero_verdict", "vs_learned_pct", "vs_learned_ci_low", "vs_learned_ci_high",
                "vs_learned_p_holm", "vs_learned_verdict", "vs_best_pct", "vs_best_p_holm", "in_best_set",
                "is_best"]
BEST_COLUMNS = ["dataset", "family", "n", "rms_h", "rms_c", "best_sigma", "best_label", "best_rel_sigma_h",
                "best_mean", "best_ci_low", "best_ci_high", "best_vs_sigma0_pct", "best_vs_sigma0_verdict",
                "set_sigmas", "set_low", "set_high", "set_rel_low", "set_rel_high", "set_contiguous"]
ADAPTIVE_COLUMNS = ["dataset", "label", "n", "sigma_start", "sigma_median", "sigma_min", "sigma_max",
                    "rel_median", "rel_min", "rel_max", "sigma_c_median", "error_ema_median", "vs_zero_pct",
                    "vs_zero_ci_low", "vs_zero_ci_high", "vs_zero_verdict", "noisy_set", "in_noisy_set",
                    "learned_noisy_set", "in_learned_noisy_set"]
ANSWER_COLUMNS = ["family", "reference", "unit", "datasets", "helps_on", "hurts", "range_low", "range_high",
                  "adaptive_in_range", "adaptive_in_set", "text"]


def family_of(label: str) -> str:
    """The label without its ``_s<σ>`` suffix: ``noisy_s0.1`` → ``noisy``."""
    return _SUFFIX.sub("", str(label))


def label_sigma(label: str, strategy: str, noise_std: float) -> float:
    """σ of a run: 0 for zero/learned; else the recorded ``noise_std``, else the label's ``_s<σ>``
    suffix, else the plain labels' 0.3 (records from before ``noise_std`` was kept)."""
    if strategy in FAMILIES.values():
        return 0.0  # zero/learned record the config's unused noise_std (0.3): it is not their σ
    if np.isfinite(noise_std):
        return float(noise_std)
    m = _SUFFIX.search(label)
    return float(m.group(1)) if m else DEFAULT_SIGMA


def study_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The study's runs (:data:`STUDY` strategies) with ``sigma`` and ``usable`` (finished, a test loss)."""
    r = runs.copy()
    strat = [s if s in STUDY else family_of(lab) for s, lab in zip(r["strategy"], r["label"])]
    r["strategy"] = strat
    r = r[r["strategy"].isin(STUDY)].copy()
    ns = r["noise_std"] if "noise_std" in r else pd.Series(np.nan, index=r.index)
    r["sigma"] = [label_sigma(str(lab), s, float(v)) for lab, s, v in zip(r["label"], r["strategy"], ns)]
    r["usable"] = ~r["diverged"].astype(bool) & np.isfinite(r[GENERALIZE].astype(float))
    return r


def complete_blocks(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(kept, seeds)``: the usable study runs of the seeds for which every study label of their
    dataset is usable (complete paired blocks), and the per-dataset ``seeds`` table (module doc)."""
    r = study_runs(runs)
    kept, rows = [], []
    for ds, g in r.groupby("dataset", sort=True):
        if not any(_SUFFIX.search(lab) for lab in g["label"].astype(str)):
            continue  # a dataset of the shared sweep that the grid did not run on (no noisy_s<σ> label)
        labels = sorted(g["label"].unique())
        ok = g[g["usable"]].groupby("seed")["label"].nunique()
        seeds = sorted(ok.index[ok == len(labels)])
        k = g[g["usable"] & g["seed"].isin(seeds)]
        kept.append(k)
        z = k[k["strategy"] == "zero"]
        rms = {c: float(z[f"state_rms_{c}"].mean()) if f"state_rms_{c}" in z and len(z) else np.nan for c in "hc"}
        rows.append({"dataset": ds, "labels": len(labels), "seeds": len(seeds),
                     "seeds_dropped": int(g["seed"].nunique() - len(seeds)),
                     "diverged": int(g["diverged"].astype(bool).sum()), "rms_h": rms["h"], "rms_c": rms["c"]})
    cols = ["dataset", "labels", "seeds", "seeds_dropped", "diverged", "rms_h", "rms_c"]
    out = pd.concat(kept) if kept else r.iloc[0:0]
    return out.reset_index(drop=True), pd.DataFrame(rows, columns=cols)


def _family(wide: pd.DataFrame, pairs: list[tuple[str, str]], scale: float, delta: float) -> list[dict]:
    """Paired a − b of each pair, Holm within the pairs, judged at δ: ``pct``, ``ci_low``, ``ci_high``
    (% of ``scale``, the interval the verdict is read from), ``p_holm``, ``verdict``, ``est`` (raw)."""
    if not pairs:
        return []
    ests = [S.paired((wide[a] - wide[b]).dropna()) for a, b in pairs]
    p = np.array([S.p_two_sided(e, s, d) for e, s, d, _ in ests], dtype=float)
    adj, fac = S.holm(p), S.holm_factors(p)
    unit = 100 / abs(scale) if np.isfinite(scale) and scale != 0 else np.nan
    out = []
    for (e, s, d, _), pa, f in zip(ests, adj, fac):
        j = S.judge(e, s, d, delta * abs(scale), f)
        out.append({"pct": e * unit, "ci_low": j["ci_low"] * unit, "ci_high": j["ci_high"] * unit, "p_holm": pa,
                    "verdict": j["verdict"], "est": e})
    return out


def _put(rows: dict, labels: list[str], prefix: str, res: list[dict]) -> None:
    for lab, r in zip(labels, res):
        rows[lab].update({f"{prefix}_pct": r["pct"], f"{prefix}_ci_low": r["ci_low"],
                          f"{prefix}_ci_high": r["ci_high"], f"{prefix}_p_holm": r["p_holm"],
                          f"{prefix}_verdict": r["verdict"]})


def grid(kept: pd.DataFrame, seeds: pd.DataFrame, delta: float = DELTA) -> pd.DataFrame:
    """Every grid point (:data:`GRID_COLUMNS`). Holm families: the σ > 0 points of one family on one
    dataset against zero; for learned_noisy the same points against learned; the others against the
    family's best σ. learned itself vs zero is a family of one (the σ = 0 end of learned_noisy)."""
    rows = []
    for ds, g in kept.groupby("dataset", sort=True):
        wide = g.pivot_table(index="seed", columns="label", values=GENERALIZE, aggfunc="first")
        sig = g.groupby("label")["sigma"].first()
        size = seeds.set_index("dataset").loc[ds]
        scale = float(wide["zero"].mean()) if "zero" in wide else np.nan
        for fam, ref in FAMILIES.items():
            pts = g[g["strategy"] == fam].drop_duplicates("sigma").sort_values("sigma")  # one label per σ
            if pts.empty and ref not in wide:
                continue
            labels = ([ref] if ref in wide else []) + list(pts["label"])
            fr = {}
            for lab in labels:
                m, lo, hi, _ = S.mean_ci(wide[lab].to_numpy())
                s = float(sig[lab])
                fr[lab] = {"dataset": ds, "family": fam, "sigma": s, "label": lab, "n": int(wide[lab].notna().sum()),
                           "mean": m, "ci_low": lo, "ci_high": hi, "rel_sigma_h": s / size["rms_h"],
                           "rel_sigma_c": s / size["rms_c"], "is_best": False, "in_best_set": True}
            noisy = list(pts["label"])
            if "zero" in wide:
                _put(fr, noisy, "vs_zero", _family(wide, [(a, "zero") for a in noisy], scale, delta))
                if ref == "zero":
                    fr["zero"].update(vs_zero_pct=0.0, vs_zero_verdict="reference")
                elif ref in fr:  # learned vs zero: a family of one
                    _put(fr, [ref], "vs_zero", _family(wide, [(ref, "zero")], scale, delta))
            if fam == "learned_noisy" and "learned" in wide:
                _put(fr, noisy, "vs_learned", _family(wide, [(a, "learned") for a in noisy], scale, delta))
                fr["learned"].update(vs_learned_pct=0.0, vs_learned_verdict="reference")
            best = min(fr, key=lambda lab: fr[lab]["mean"])
            others = [lab for lab in fr if lab != best]
            fr[best].update(is_best=True, vs_best_pct=0.0)
            for lab, r in zip(others, _family(wide, [(a, best) for a in others], scale, delta)):
                # out of the set only when significantly worse than the best (Holm over the others)
                fr[lab].update(vs_best_pct=r["pct"], vs_best_p_holm=r["p_holm"],
                               in_best_set=not (r["p_holm"] < ALPHA and r["est"] > 0))
            rows += fr.values()
    return pd.DataFrame(rows, columns=GRID_COLUMNS)


def best(grid_: pd.DataFrame, seeds: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × family: the lowest-mean σ and its confidence set (:data:`BEST_COLUMNS`);
    ``set_contiguous``: the set holds every grid σ between its smallest and largest."""
    rows = []
    size = seeds.set_index("dataset")
    for (ds, fam), g in grid_.groupby(["dataset", "family"], sort=False):
        g = g.sort_values("sigma")
        b = g[g["is_best"]].iloc[0]
        inset = g["in_best_set"].astype(bool).to_numpy()
        idx = np.flatnonzero(inset)
        s = g[inset]
        ref = g[g["sigma"] == 0]
        rows.append({"dataset": ds, "family": fam, "n": int(b["n"]), "rms_h": size.loc[ds, "rms_h"],
                     "rms_c": size.loc[ds, "rms_c"], "best_sigma": b["sigma"], "best_label": b["label"],
                     "best_rel_sigma_h": b["rel_sigma_h"], "best_mean": b["mean"], "best_ci_low": b["ci_low"],
                     "best_ci_high": b["ci_high"],
                     "best_vs_sigma0_pct": 0.0 if b["sigma"] == 0 else _vs_sigma0(b, fam, "pct"),
                     "best_vs_sigma0_verdict": "reference" if b["sigma"] == 0 else _vs_sigma0(b, fam, "verdict")
                     if len(ref) else np.nan,
                     "set_sigmas": ", ".join(f"{x:g}" for x in s["sigma"]), "set_low": s["sigma"].min(),
                     "set_high": s["sigma"].max(), "set_rel_low": s["rel_sigma_h"].min(),
                     "set_rel_high": s["rel_sigma_h"].max(),
                     "set_contiguous": bool(len(idx) and idx[-1] - idx[0] + 1 == len(idx))})
    return pd.DataFrame(rows, columns=BEST_COLUMNS)


def _vs_sigma0(row, fam: str, what: str):
    """The comparison of a grid row with its family's σ = 0 end (zero for noisy, learned for learned_noisy)."""
    return row[f"vs_{FAMILIES[fam]}_{what}"]


def adaptive_sigma(kept: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Per adaptive run: ``sigma`` (h0), ``sigma_c``, ``error_ema`` at its best epoch; columns KEY + those."""
    a = kept[kept["strategy"] == "adaptive"][["dataset", "label", "seed", "best_epoch"]]
    if a.empty or curves.empty or SIGMA_KEY not in curves:
        return a.assign(sigma=np.nan, sigma_c=np.nan, error_ema=np.nan)
    cols = [c for c in (SIGMA_KEY, SIGMA_C_KEY, ERROR_KEY) if c in curves]
    c = curves[["dataset", "label", "seed", "epoch", *cols]]
    m = a.merge(c, left_on=["dataset", "label", "seed", "best_epoch"], right_on=["dataset", "label", "seed", "epoch"],
                how="left")
    return m.rename(columns={SIGMA_KEY: "sigma", SIGMA_C_KEY: "sigma_c", ERROR_KEY: "error_ema"}).reindex(
        columns=["dataset", "label", "seed", "best_epoch", "sigma", "sigma_c", "error_ema"])


def _inside(x: float, b: pd.DataFrame, ds: str, fam: str) -> tuple[str, object]:
    """``(set as text, x within [set_low, set_high])`` of one dataset's family (NaN when unknown)."""
    r = b[(b["dataset"] == ds) & (b["family"] == fam)]
    if r.empty or not np.isfinite(x):
        return ("" if r.empty else r["set_sigmas"].iloc[0]), np.nan
    r = r.iloc[0]
    return r["set_sigmas"], bool(r["set_low"] <= x <= r["set_high"])


def adaptive(kept: pd.DataFrame, curves: pd.DataFrame, seeds: pd.DataFrame, best_: pd.DataFrame,
             delta: float = DELTA) -> pd.DataFrame:
    """Where adaptive's σ ended (:data:`ADAPTIVE_COLUMNS`): median and range over seeds of σ(h0) at each
    run's best epoch, absolute and / RMS(h); its test loss vs zero (a family of one); whether the median
    lies within the hull of each family's best-σ confidence set."""
    per = adaptive_sigma(kept, curves)
    size = seeds.set_index("dataset")
    rows = []
    for (ds, lab), g in per.groupby(["dataset", "label"], sort=True):
        k = kept[kept["dataset"] == ds]
        wide = k.pivot_table(index="seed", columns="label", values=GENERALIZE, aggfunc="first")
        vs = (_family(wide, [(lab, "zero")], float(wide["zero"].mean()), delta)[0] if "zero" in wide else
              {"pct": np.nan, "ci_low": np.nan, "ci_high": np.nan, "verdict": "inconclusive"})
        s, rms = g["sigma"].astype(float), size.loc[ds, "rms_h"]
        med = float(s.median()) if s.notna().any() else np.nan
        sets = {f: _inside(med, best_, ds, f) for f in FAMILIES}
        start = k.loc[k["label"] == lab, "noise_std"] if "noise_std" in k else pd.Series(dtype=float)
        rows.append({"dataset": ds, "label": lab, "n": len(g), "sigma_start": float(start.iloc[0]) if len(start) else np.nan,
                     "sigma_median": med, "sigma_min": s.min(), "sigma_max": s.max(), "rel_median": med / rms,
                     "rel_min": s.min() / rms, "rel_max": s.max() / rms, "sigma_c_median": g["sigma_c"].median(),
                     "error_ema_median": g["error_ema"].median(), "vs_zero_pct": vs["pct"],
                     "vs_zero_ci_low": vs["ci_low"], "vs_zero_ci_high": vs["ci_high"], "vs_zero_verdict": vs["verdict"],
                     "noisy_set": sets["noisy"][0], "in_noisy_set": sets["noisy"][1],
                     "learned_noisy_set": sets["learned_noisy"][0], "in_learned_noisy_set": sets["learned_noisy"][1]})
    return pd.DataFrame(rows, columns=ADAPTIVE_COLUMNS)


def common_range(points: pd.DataFrame, x: str) -> tuple[float, float] | None:
    """The widest range of ``x`` (σ or σ / RMS) over which every point of every dataset is better or
    negligible against σ = 0, and which holds a point of every dataset: the points (columns dataset,
    ``x``, ``verdict``) are pooled and sorted by ``x``; a candidate is a run of consecutive points that
    are all OK, so any point of any dataset inside it that is worse or inconclusive breaks it."""
    p = points[np.isfinite(points[x].astype(float))].sort_values(x, kind="stable")
    need, found, run = set(p["dataset"]), [], []
    for r in [*p.itertuples(index=False), None]:
        if r is not None and r.verdict in OK:
            run.append(r)
            continue
        if run and {q.dataset for q in run} == need:
            found.append((getattr(run[0], x), getattr(run[-1], x)))
        run = []
    if not found:
        return None
    return max(found, key=lambda lh: (np.log(lh[1] / lh[0]) if lh[0] > 0 else np.inf, lh[1]))


def _fmt_x(v: float) -> str:
    return f"{v:.3g}"


def answer(grid_: pd.DataFrame, adaptive_: pd.DataFrame) -> pd.DataFrame:
    """Per family (:data:`ANSWER_COLUMNS`): the σ > 0 points' verdicts against the family's own σ = 0
    end (zero for noisy, learned for learned_noisy: the effect of the noise itself); the recommended
    range of σ / RMS(h) (:func:`common_range`; absolute σ where the records lack the state's RMS), or
    "no σ helps here" when no point is better on any dataset; which σ hurt; and on how many datasets
    adaptive's median σ at the best epoch falls in that range and in the family's best-σ set."""
    rows = []
    for fam, ref in FAMILIES.items():
        pts = grid_[(grid_["family"] == fam) & (grid_["sigma"] > 0)].copy()
        if pts.empty:
            continue
        pts["verdict"] = pts[f"vs_{ref}_verdict"].fillna("inconclusive")
        rel = bool(np.isfinite(pts["rel_sigma_h"].astype(float)).all())
        x, unit = ("rel_sigma_h", "σ / RMS(h)") if rel else ("sigma", "σ (absolute: no state RMS recorded)")
        helps = sorted(set(pts.loc[pts["verdict"] == "better", "dataset"]))
        hurt = pts[pts["verdict"] == "worse"]
        hurts = "; ".join(f"{r.dataset} σ={r.sigma:g}" + (f" (σ/RMS(h) {_fmt_x(r.rel_sigma_h)})" if rel else "")
                          for r in hurt.itertuples())
        rng = common_range(pts, x) if helps else None
        a = adaptive_[adaptive_["dataset"].isin(set(pts["dataset"]))] if len(adaptive_) else adaptive_
        ax = a["rel_median" if rel else "sigma_median"].astype(float) if len(a) else pd.Series(dtype=float)
        in_range = (f"{int(((ax >= rng[0]) & (ax <= rng[1])).sum())} of {int(ax.notna().sum())}"
                    if rng and ax.notna().any() else "")
        col = f"in_{fam}_set"
        in_set = (f"{int(a[col].eq(True).sum())} of {int(a[col].notna().sum())}"
                  if len(a) and a[col].notna().any() else "")
        ndata = pts["dataset"].nunique()
        if not helps:
            text = f"no σ helps here: no tested σ of {fam} is better than {ref} on any of {ndata} dataset(s)"
        elif rng:
            text = (f"{unit} from {_fmt_x(rng[0])} to {_fmt_x(rng[1])}: better or negligible against {ref} on every "
                    f"dataset (better on {len(helps)} of {ndata}: {', '.join(helps)})")
        else:
            ok = pts[pts["verdict"].isin(OK)]
            per = "; ".join(f"{d}: {', '.join(_fmt_x(v) for v in g[x])}" for d, g in ok.groupby("dataset"))
            text = (f"no common range: σ of {fam} is better than {ref} on {len(helps)} of {ndata} dataset(s) "
                    f"({', '.join(helps)}), but no range of {unit} is better or negligible on every dataset "
                    f"(better or negligible: {per or 'none'})")
        text += f". Worse than {ref}: {hurts}" if hurts else f". No tested σ is worse than {ref}"
        where = [f"in that range on {in_range}"] if in_range else []
        where += [f"inside {fam}'s best-σ confidence set on {in_set}"] if in_set else []
        if where:
            text += f". adaptive's σ at the best epoch (median) lies {' and '.join(where)} dataset(s)"
        rows.append({"family": fam, "reference": ref, "unit": unit, "datasets": ndata, "helps_on": ", ".join(helps),
                     "hurts": hurts, "range_low": rng[0] if rng else np.nan, "range_high": rng[1] if rng else np.nan,
                     "adaptive_in_range": in_range, "adaptive_in_set": in_set, "text": text + "."})
    return pd.DataFrame(rows, columns=ANSWER_COLUMNS)


def tables(runs: pd.DataFrame, curves: pd.DataFrame, delta: float = DELTA) -> dict[str, pd.DataFrame]:
    """``{"seeds", "grid", "best", "adaptive", "answer"}`` (module doc) from collect's tables."""
    kept, seeds = complete_blocks(runs)
    g = grid(kept, seeds, delta)
    b = best(g, seeds)
    a = adaptive(kept, curves, seeds, b, delta)
    return {"seeds": seeds, "grid": g, "best": b, "adaptive": a, "answer": answer(g, a), "kept": kept}
