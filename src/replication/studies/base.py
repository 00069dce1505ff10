"""What a study is: a question, the experiment yamls that answer it, where its sweep and results go,
the function that turns the sweep into tables, figures and a report, and its notebooks and tests.

A study's ``__init__.py`` declares ``STUDIES`` (one :class:`Study` per profile of it) and imports
nothing but this module, so that the list of studies is known with the standard library alone:
``make`` reads it before set-up has installed anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

__all__ = ["Study"]


@dataclass(frozen=True)
class Study:
    """One runnable study: ``make reproduce PROFILE=<name>``.

    ``name`` is the same in every layer: ``conf/experiment/<name>.yaml`` is its first experiment
    (later ones are ``experiments``' other entries, run in order into the same sweep),
    ``sweeps/<sweep or name>/`` its runs, ``results/<results or name>/`` its outputs.
    ``analysis`` is ``"module:function"``, imported only when analysing; the function takes
    ``(sweep: replication.analysis.output.Sweep, out: Path)`` and returns the verdict records
    ``[{"claim", "dataset", "verdict"}]``. ``options`` maps a ``make`` variable to the Hydra override it
    sets (``{value}`` is replaced; an empty value leaves the default), for a study whose input is the
    user's (e.g. ``DATA`` -> ``data.path={value}``); ``required`` lists those that must be given.
    ``results_from`` names the option whose value (a file) names the results folder
    (``results/<results>/<file stem>``). ``findings`` is ``"module:function"`` taking the committed
    results folder and returning the README's lines on it (numbers read from its tables, never typed).
    ``needs``: strategies or labels of which a sweep must hold at least one run for this study's
    analysis to be about it (another study's sweep is refused, naming what it holds). ``arm_keys``:
    config keys outside ``init_state`` in which the study's compared runs differ by design (the runs
    of one dataset must otherwise share their config and data:
    :func:`replication.analysis.pairing.incomparable`)."""

    name: str
    question: str
    experiments: tuple[str, ...]
    analysis: str
    sweep: str = ""
    results: str = ""
    notebooks: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    budget: str = ""
    options: dict[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    results_from: str = ""
    findings: str = ""
    needs: tuple[str, ...] = ()
    arm_keys: tuple[str, ...] = ()

    def sweep_dir(self, root: Path = Path("sweeps")) -> Path:
        return Path(root) / (self.sweep or self.name)

    def results_dir(self, root: Path = Path("results"), values: dict[str, str] | None = None,
                    variant: str = "") -> Path:
        """``<root>/<results or name>[-<variant>][/<stem of the results_from file>]``; a ``variant``
        (a hash of overrides that change the numbers) keeps a changed run off the committed results."""
        base = Path(root) / ((self.results or self.name) + (f"-{variant}" if variant else ""))
        value = (values or {}).get(self.results_from, "") if self.results_from else ""
        return base / Path(value).stem if value else base

    def overrides(self, values: dict[str, str]) -> list[str]:
        """The Hydra overrides of the given option values (``make`` variables); raises ``ValueError``
        naming the missing required ones."""
        missing = [k for k in self.required if not values.get(k)]
        if missing:
            valid = " ".join(f"{k}=..." for k in self.options)
            raise ValueError(f"study {self.name!r} needs {', '.join(missing)} (options: {valid})")
        return [tpl.format(value=values[k]) for k, tpl in self.options.items() if values.get(k)]

    def analyze_function(self):
        return _load(self.analysis)

    def findings_lines(self, root: Path = Path("results")) -> list[str]:
        """The README's lines on this study's committed results ([] without results or findings)."""
        out = Path(root) / (self.results or self.name)
        if not self.findings or not (out / "runs.csv").exists():
            return []
        return _load(self.findings)(out)


def _load(target: str):
    module, func = target.split(":")
    return getattr(import_module(module), func)
