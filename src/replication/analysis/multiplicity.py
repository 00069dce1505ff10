"""Protocol v3's multiplicity sensitivity check: Holm and Benjamini–Hochberg over every comparison of
the study at once (statsmodels ``multipletests``), beside the family-wise grades the verdicts use
(Holm within one claim on one dataset), and the grades the study-wide correction would change.

The study-wide Holm grade re-reads each comparison's interval at level 1 − α/c with c its Holm
factor among all the study's p-values (:func:`.stats.holm_factors`), so interval and grade agree as
they do family-wise. Benjamini–Hochberg controls the false discovery rate and has no simultaneous
interval; it is compared on "exists" alone (the adjusted p < α, i.e. the interval excludes 0)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import grading as G
from . import stats as S
from .protocol3 import ALPHA

STUDY_COLUMNS = ["p_holm_study", "p_bh_study", "holm_factor_study", "grade_study", "changed_holm", "exists",
                 "exists_bh", "changed_bh"]


def study_wide(table: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """``table`` (graded, :func:`.grading.grade_table`) with the :data:`STUDY_COLUMNS` added over all its
    rows as one family: p_holm_study, p_bh_study, the study-wide Holm factor, the grade at that
    factor, ``changed_holm`` (it differs from the family-wise grade), ``exists`` (family-wise Holm
    p < α), ``exists_bh`` (BH p < α) and ``changed_bh`` (the two disagree). Rows without a p keep NaN
    and count in no family."""
    from statsmodels.stats.multitest import multipletests

    t = table.copy()
    p = t["p"].to_numpy(dtype=float)
    ok = np.isfinite(p)
    for k in ("p_holm_study", "p_bh_study", "holm_factor_study"):
        t[k] = np.nan
    if ok.any():
        t.loc[ok, "p_holm_study"] = multipletests(p[ok], alpha=alpha, method="holm")[1]
        t.loc[ok, "p_bh_study"] = multipletests(p[ok], alpha=alpha, method="fdr_bh")[1]
        t.loc[ok, "holm_factor_study"] = S.holm_factors(p[ok])
    t["grade_study"] = G.regrade(t, t["holm_factor_study"], alpha)["grade"]
    t["changed_holm"] = t["grade_study"] != t["grade"]
    t["exists"] = t["p_holm"] < alpha
    t["exists_bh"] = t["p_bh_study"] < alpha
    t["changed_bh"] = ok & (t["exists"] != t["exists_bh"])
    return t


def changed(table: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """The claims whose grade the study-wide Holm correction changes: columns claim, family, dataset,
    grade (family-wise), grade_study. ``table`` as for :func:`study_wide`."""
    t = study_wide(table, alpha)
    fam = G.claims_table(t)
    study = G.claims_table(G.regrade(t, t["holm_factor_study"], alpha))
    m = fam.merge(study[["claim", "family", "grade"]].rename(columns={"grade": "grade_study"}), on=["claim", "family"])
    return m.loc[m["grade"] != m["grade_study"], ["claim", "family", "dataset", "grade", "grade_study"]].reset_index(drop=True)
