"""Q5: how large should the initial-state noise be? A σ grid for noisy and learned_noisy, and where
adaptive's σ ends, on the default study's four windows-regime datasets (its sweep is shared: the
default study's finished runs are the grid's σ = 0 and σ = 0.3 points)."""

from ..base import Study

STUDIES = (
    Study(name="noise", question="Q5: the noise scale σ that helps, absolute and relative to the state's size",
          experiments=("noise_base", "noise"), analysis="replication.studies.noise.analysis:analyze", findings="replication.studies.noise.analysis:findings",
          sweep="default", notebooks=("04_noise_scale.ipynb",), tests=("tests/studies/test_noise.py",),
          budget="13 min with set-up on 2 CPU cores (less after `make reproduce`), measured before v3 scored the test loss every epoch",
          needs=("noisy", "learned_noisy")),
)
