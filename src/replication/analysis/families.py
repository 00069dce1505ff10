"""Verdict families: the tests of a table of comparisons, Holm's correction within each family
(a group of rows), the interval that agrees with it and the verdict of every row (protocol v2's rules,
:func:`replication.analysis.stats.judge`). Every study judges its comparisons here."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats as S

__all__ = ["JUDGED", "judge_families"]

JUDGED = ["rel_pct", "rel_se", "p", "p_holm", "p_equiv", "level", "ci_low", "ci_high", "rel_ci_low",
           "rel_ci_high", "verdict"]


def judge_families(table: pd.DataFrame, by=("claim", "family"), columns=None) -> pd.DataFrame:
    """Tests, Holm within each ``by`` group (a family), the matching interval and the verdict of every
    row; ``table`` needs mean_diff, se, df, delta and scale. Returns ``columns`` (default: the
    table's own columns followed by :data:`JUDGED`)."""
    if columns is None:
        columns = [c for c in table.columns if c not in JUDGED] + JUDGED
    if table.empty:
        return pd.DataFrame(columns=columns)
    table = table.copy()
    table["p"] = [S.p_two_sided(e, s, d) for e, s, d in zip(table["mean_diff"], table["se"], table["df"])]
    table["p_holm"] = np.nan
    factor = pd.Series(np.nan, index=table.index)
    by = list(by)
    # a one-key group by a scalar: by a one-element list pandas 2.x warns about the keys' future type
    for _, idx in table.groupby(by[0] if len(by) == 1 else by, sort=False).groups.items():
        p = table.loc[idx, "p"].to_numpy(dtype=float)
        table.loc[idx, "p_holm"] = S.holm(p)
        factor.loc[idx] = S.holm_factors(p)
    judged = [S.judge(r.mean_diff, r.se, r.df, r.delta, f) for r, f in zip(table.itertuples(), factor)]
    for k in ("level", "ci_low", "ci_high", "p_equiv", "verdict"):
        table[k] = [j[k] for j in judged]
    unit = 100 / table["scale"].abs().where(table["scale"] != 0)
    table["rel_pct"], table["rel_se"] = table["mean_diff"] * unit, table["se"] * unit
    table["rel_ci_low"], table["rel_ci_high"] = table["ci_low"] * unit, table["ci_high"] * unit
    return table[columns].reset_index(drop=True)
