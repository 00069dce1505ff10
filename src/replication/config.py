"""Config checks that must happen before Hydra starts, so a typo costs one clear line, not a trace."""

from __future__ import annotations

import sys
from pathlib import Path


def group_choices(conf_dir: Path) -> dict[str, list[str]]:
    """``{group: [choice, ...]}`` for every config group folder under ``conf_dir`` (not hydra/)."""
    return {
        d.name: sorted(p.stem for p in d.glob("*.yaml"))
        for d in sorted(Path(conf_dir).iterdir())
        if d.is_dir() and d.name != "hydra" and any(d.glob("*.yaml"))
    }


def bad_override(argv: list[str], conf_dir: Path) -> str | None:
    """The error line for the first override that names an unknown choice of a group, else None.

    Understands ``group=a``, ``group=a,b`` (multirun) and ``+group=a``; leaves sweep functions
    such as ``choice(...)`` and anything that is not a group to Hydra.
    """
    groups = group_choices(conf_dir)
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        key = key.lstrip("+~")
        if key not in groups or "(" in value or value in ("null", ""):
            continue
        for v in value.split(","):
            if v.strip() not in groups[key]:
                return f"unknown {key} {v.strip()!r}; valid choices: {', '.join(groups[key])}"
    return None


def check_overrides(argv: list[str], conf_dir: Path) -> None:
    """Exit with status 2 and one line on stderr when :func:`bad_override` finds a problem."""
    msg = bad_override(argv, conf_dir)
    if msg:
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)
