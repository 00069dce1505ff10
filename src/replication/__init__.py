"""replication: the experiment harness around the ``initstate`` library.

Datasets (:mod:`.data`), the model and training loop (:mod:`.model`, :mod:`.trainer`), one run
from a Hydra config (:mod:`.run`), tracking (:mod:`.tracking`) and the analysis of a sweep into
tables, verdicts, figures and a report (:mod:`.analysis`). The library itself (``initstate``)
imports only torch; everything here may use hydra, pandas, scipy, matplotlib and wandb.
"""
