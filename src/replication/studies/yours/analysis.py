"""The yours study's analysis: the default study's (protocol v2 verdicts, figures, the plain answer),
extended by a section on the file itself: what it holds, and how many paired seeds would detect δ."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.stats.power import TTestPower

from replication.analysis.fmt import count, num, table_md
from replication.analysis.output import Sweep
from replication.analysis.protocol import ALPHA, DELTA, POWER
from replication.analysis.stats import power_paired
from replication.studies.claims.analysis import analyze as analyze_claims
from replication.studies.claims.claims import comparisons


def seeds_needed(sd_pct: float, delta_pct: float = 100 * DELTA, alpha: float = ALPHA, m: int = 3) -> float:
    """Paired seeds for a two-sided paired t-test at α/m (Holm's strictest step over the C1 bundle of
    m = 3) to detect an effect of ``delta_pct`` with :data:`POWER`, given the paired SD ``sd_pct``
    (both in % of zero's loss); NaN without a finite positive SD."""
    if not (np.isfinite(sd_pct) and sd_pct > 0):
        return np.nan
    effect = delta_pct / sd_pct
    if power_paired(effect, 2, alpha / m) >= POWER:
        return 2.0  # the least a paired t-test takes; the solver's bracket starts above the answer here
    n = TTestPower().solve_power(effect_size=effect, alpha=alpha / m, power=POWER, alternative="two-sided")
    return float(np.ceil(n))


def your_data_section(sweep: Sweep, out: Path) -> tuple[str, dict[str, pd.DataFrame]]:
    """``## Your data``: the file, its sizes, and per endpoint the paired SD and the seeds that δ needs."""
    runs = sweep.runs
    cfg = (sweep.meta.get("config") or {}).get("data", {})
    table = comparisons(runs)
    c1 = table[table["claim"].isin(["C1-generalize", "C1-faster"]) & ~table["exploratory"].astype(bool)]
    rows = []
    for claim, g in c1.groupby("claim", sort=False):
        sd = float(np.sqrt((g["rel_se"] ** 2 * g["n"]).mean()))  # RMS paired SD of the bundle, % of zero
        rows.append({"endpoint": claim, "paired_seeds": int(g["n"].median()), "paired_sd_pct": sd,
                     "seeds_for_delta": seeds_needed(sd)})
    need = pd.DataFrame(rows, columns=["endpoint", "paired_seeds", "paired_sd_pct", "seeds_for_delta"])
    sizes = runs.groupby("dataset").agg(task=("task", "first"), regime=("regime", "first"),
                                        train_sequences=("train_sequences", "first"),
                                        train_steps=("train_steps", "first")).reset_index()
    lines = ["## Your data", "",
             f"- File `{cfg.get('path', '?')}` (task `{cfg.get('task', '?')}`, regime `{cfg.get('regime', '?')}`), "
             "read and checked by `replication.data.custom` exactly as `data=custom` reads it.", "",
             table_md(sizes), "",
             f"Seeds needed to detect δ = {100 * DELTA:g}% of zero's loss at {100 * POWER:g}% power (paired t-test at "
             f"α/3, Holm's strictest step of the C1 bundle), from the paired SD these runs show:", "",
             table_md(need) if len(need) else "(no paired comparison yet)"]
    short = need[need["seeds_for_delta"] > need["paired_seeds"]]
    if len(short):
        more = int(short["seeds_for_delta"].max())
        lines += ["", f"**More seeds are needed** to resolve δ on {', '.join(short['endpoint'])}: rerun with "
                      f"`SEEDS={more}` (finished runs are kept; only the new seeds train)."]
    elif len(need):
        lines += ["", f"The {count(num(need['paired_seeds'].min()), 'paired seed')} used are enough to resolve δ on every "
                      "C1 endpoint."]
    return "\n".join(lines), {"seeds_needed": need}


def analyze(sweep: Sweep, out: Path) -> list[dict]:
    return analyze_claims(sweep, out, extensions=(your_data_section,))
