"""The rules every study shares (protocol v2): the level, the margin δ, the power target and the
names of the endpoints (columns of ``runs.csv``). Frozen: later studies are judged by exactly these
(issue 9). Each study's own claims and method text live with the study (e.g.
:mod:`replication.studies.claims.protocol`)."""

from __future__ import annotations

ALPHA = 0.05
DELTA = 0.01  # smallest effect of interest: 1% of the zero strategy's mean loss
SENSITIVITY_DELTAS = (0.005, 0.01, 0.02)
REGIME_GATE = 0.8  # share of a dataset's runs whose best validation epoch precedes their last
POWER = 0.8

# Endpoints (columns of runs.csv).
FASTER = "auc_train_clean"
GENERALIZE = "test_at_best"
EARLY = "test_early_at_best"
