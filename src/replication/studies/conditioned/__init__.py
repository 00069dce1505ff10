"""Data-conditioned initial states (exploratory): h0 from an encoder of each sequence's first k steps
against a learned h0 and against a warm-up that leaves the first k steps unscored."""

from ..base import Study

STUDIES = (
    Study(name="conditioned", question="does an encoder of the first steps beat a learned h0, or a warm-up?",
          experiments=("conditioned", "conditioned_warmup"), analysis="replication.studies.conditioned.analysis:analyze",
          findings="replication.studies.conditioned.analysis:findings",
          notebooks=("05_conditioned.ipynb",), tests=("tests/studies/test_conditioned.py",),
          budget="10 min with set-up on 2 CPU cores, measured before v3 scored the test loss every epoch", needs=("encoder", "zero_warmup"),
          # the warm-up arm is zero with trainer.warmup = k; the study reads and checks both keys itself
          arm_keys=("trainer.warmup", "trainer.score_from")),
)
