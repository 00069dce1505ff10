"""Shared analysis, knowing no study: collecting a sweep into tidy tables (:mod:`.collect`), the
statistics (:mod:`.stats`), verdict families (:mod:`.families`), the shared rules (:mod:`.protocol`),
formatting (:mod:`.fmt`), plotting primitives (:mod:`.plotting`), shared report sections
(:mod:`.sections`) and where outputs go (:mod:`.output`). Each study's own tables, figures and
report live in its folder under :mod:`replication.studies`."""

from __future__ import annotations

from .collect import collect, load_results, load_tables, run_dirs
from .output import Sweep, git_commit, notebook_dirs, run_config, write_report, write_tables

__all__ = ["Sweep", "collect", "git_commit", "load_results", "load_tables", "notebook_dirs", "run_config",
           "run_dirs", "write_report", "write_tables"]
