"""The studies: one folder each below this package, declaring its :class:`~.base.Study` objects in
``STUDIES``. Adding a study is adding a folder (and its experiment yamls in ``conf/experiment/``): the
registry below finds it, ``make reproduce PROFILE=<name>``, ``make help`` and
``python -m replication.studies list|plan|run|analyze`` take their names from here.

Importing this package imports only the standard library (the folders' ``__init__`` files declare,
their analysis modules are imported when a study is analysed)."""

from __future__ import annotations

import pkgutil
from importlib import import_module

from .base import Study

__all__ = ["Study", "all_studies", "get"]


def all_studies() -> dict[str, Study]:
    """``{name: Study}`` over every study folder, in folder order; a name declared twice is an error."""
    found: dict[str, Study] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        for study in getattr(import_module(f"{__name__}.{info.name}"), "STUDIES", ()):
            if study.name in found:
                raise RuntimeError(f"study {study.name!r} is declared twice (second in {info.name}/)")
            found[study.name] = study
    return found


def get(name: str) -> Study:
    """The study called ``name``; ``KeyError`` with one line naming the valid choices otherwise."""
    studies = all_studies()
    if name not in studies:
        raise KeyError(f"unknown study {name!r}; valid: {', '.join(studies)}")
    return studies[name]
