"""Datasets: one module per dataset (``load(**options) -> SequenceDataset``), one yaml each in
``conf/data/``. See :mod:`replication.data.base` for the interface, the tasks and the regimes."""

from .base import REGIMES, TASKS, Batch, SequenceDataset, Split, cache_dir, normalize, require

__all__ = ["REGIMES", "TASKS", "Batch", "SequenceDataset", "Split", "cache_dir", "normalize", "require"]
