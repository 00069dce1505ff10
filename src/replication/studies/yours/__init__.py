"""The answer on your own data, in one command: the claims' four strategies with paired seeds on a
``.npz`` file of yours (``replication.data.custom``), reported like the default study, with the plain
answer for that data and the seeds it would take to detect δ."""

from ..base import Study

CLAIMED = ("zero", "noisy", "learned", "learned_noisy", "adaptive")  # a sweep of the claims holds one of these

STUDIES = (
    Study(name="yours", question="the same answer for your own .npz (DATA=file.npz TASK=classify|forecast|lm)",
          experiments=("yours",), analysis="replication.studies.yours.analysis:analyze",
          options={"DATA": "data.path={value}", "TASK": "data.task={value}", "REGIME": "data.regime={value}",
                   "SEEDS": "seed=range({value})"},
          required=("DATA", "TASK"), results_from="DATA", tests=("tests/studies/test_yours.py",),
          budget="minutes on 2 CPU cores for a file of about 10k steps", needs=CLAIMED),
)
