"""The claims study: C1 (non-zero initial states train faster and generalize better), C2 (learned beats
noisy), C3 (noise on a learned state adds nothing), H4 (short-many favours learning, long-few noise),
under protocol v2, on many-short and few-long datasets. Two sizes: ``default`` (2 CPU cores) and
``full`` (paper scale)."""

from ..base import Study

CLAIMED = ("zero", "noisy", "learned", "learned_noisy", "adaptive")  # a sweep of the claims holds one of these

STUDIES = (
    Study(name="default", question="C1-C3 and H4 on 7 datasets, sized for 2 CPU cores (protocol v3, v2 beside it)",
          experiments=("default", "default_more_seeds"), analysis="replication.studies.claims.analysis:analyze", findings="replication.studies.claims.analysis:findings",
          notebooks=("01_learning_curves.ipynb", "02_generalization_gap.ipynb", "03_verdicts.ipynb"),
          tests=("tests/studies/test_claims_analysis.py", "tests/studies/test_claims_protocol_v2.py"),
          budget="20 min with set-up on 2 CPU cores (19.7 min measured; sized for 15 before v3)", needs=CLAIMED),
    Study(name="full", question="the same claims at paper scale (2 x 200 LSTM, full datasets; a GPU or a cluster)",
          experiments=("full",), analysis="replication.studies.claims.analysis:analyze", findings="replication.studies.claims.analysis:findings",
          tests=("tests/studies/test_claims_analysis.py",), budget="a GPU or a cluster", needs=CLAIMED),
)
