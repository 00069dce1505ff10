"""r2rt's own regime: word-level language modelling with a 2 x 200 LSTM, every 50-token window from the
initial state, reported like the claims study plus perplexity side by side with r2rt's PTB table."""

from ..base import Study

CLAIMED = ("zero", "noisy", "learned", "learned_noisy", "adaptive")  # a sweep of the claims holds one of these

STUDIES = (
    Study(name="r2rt", question="r2rt's exact set-up on PTB-sized Shakespeare words (GPU)",
          experiments=("r2rt",), analysis="replication.studies.r2rt.analysis:analyze", findings="replication.studies.r2rt.analysis:findings",
          tests=("tests/studies/test_r2rt.py",), budget="about 10 min on one H200", needs=CLAIMED),
    Study(name="r2rt_cpu", question="r2rt's model and optimiser scaled to 2 CPU cores (2k vocabulary, 20k tokens)",
          experiments=("r2rt_cpu",), analysis="replication.studies.r2rt.analysis:analyze", findings="replication.studies.r2rt.analysis:findings",
          tests=("tests/studies/test_r2rt.py",), budget="about 50 min with set-up on 2 CPU cores", needs=CLAIMED),
)
