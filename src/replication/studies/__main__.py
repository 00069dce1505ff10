"""``python -m replication.studies list | names | check NAME | plan NAME | run NAME | analyze NAME``.

``run`` is what ``make reproduce PROFILE=NAME`` calls: Hydra overrides come from ``$ARGS`` (split like a
shell would) or after ``--``, a study's options (e.g. ``DATA``) from the environment or as
``DATA=value`` arguments. ``list``, ``names`` and ``check`` need only the standard library."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from . import all_studies, get


def _split(study, extra: list[str]) -> tuple[dict[str, str], list[str]]:
    """``(option values, Hydra overrides)`` from the environment and the command line."""
    values = {k: os.environ.get(k, "") for k in study.options}
    args = shlex.split(os.environ.get("ARGS", ""))
    for a in extra:
        key, sep, value = a.partition("=")
        if sep and key in study.options:
            values[key] = value
        else:
            args.append(a)
    return values, args


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m replication.studies", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="every study with its question")
    sub.add_parser("names", help="the study names, space-separated (for make)")
    f = sub.add_parser("findings", help="the README's findings, read from the committed results")
    f.add_argument("--write", metavar="README", help="replace the findings block of this file")
    for name, text in (("check", "exit 2 with the valid names unless NAME is a study"),
                       ("plan", "what `run NAME` would run and write"), ("run", "train every experiment, then analyse"),
                       ("analyze", "analyse a finished (or partial) sweep")):
        p = sub.add_parser(name, help=text)
        p.add_argument("name")
        if name in ("plan", "run"):
            p.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
            p.add_argument("--root", default=None, help="where sweeps/ and results/ go (default: the checkout)")
            p.add_argument("--results", default=os.environ.get("RESULTS") or None, metavar="DIR",
                           help="the results folder (default $RESULTS, else results/<study>/, or "
                                "results/<study>-<hash>/ when the overrides change the study's runs)")
            p.add_argument("extra", nargs="*", help="OPTION=value of the study, or Hydra overrides")
        if name == "analyze":
            p.add_argument("--sweep", default=None, help="the sweep folder (default: the study's)")
            p.add_argument("--out", default=None, help="the results folder (default: the study's)")
            p.add_argument("--command", default="", help="the command that produced the sweep (for the report)")
            p.add_argument("--sweep-seconds", type=float, default=None)
            p.add_argument("--from-tables", default=None, metavar="RESULTS_DIR",
                           help="re-analyse a results folder's runs/curves/profiles.csv instead of a sweep")
    # OPTION=value and Hydra overrides may follow the flags (argparse would take only one block of them)
    a, unknown = ap.parse_known_args(argv)
    if unknown and a.cmd not in ("plan", "run"):
        ap.error(f"unrecognized arguments: {' '.join(unknown)}")
    if a.cmd == "list":
        for s in all_studies().values():
            print(f"{s.name:<12} {s.question}")
        return 0
    if a.cmd == "names":
        print(" ".join(all_studies()))
        return 0
    if a.cmd == "findings":
        from . import findings_block, with_findings

        if a.write:
            path = Path(a.write)
            path.write_text(with_findings(path.read_text(), Path(path.parent, "results")))
        else:
            print(findings_block(Path("results")))
        return 0
    try:
        study = get(a.name)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    if a.cmd == "check":
        return 0
    from . import runner  # pandas, hydra and the rest: only past the checks above

    if a.cmd == "analyze":
        try:
            res = runner.analyze(study, a.sweep, a.out, command=a.command, sweep_seconds=a.sweep_seconds,
                                 tables=a.from_tables)
        except runner.AnalysisError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        runner.print_summary(res, a.out or study.results_dir())
        return 0
    values, args = _split(study, [*a.extra, *unknown])
    try:
        root = Path(a.root).resolve() if a.root else runner.ROOT
        commands = runner.train_commands(study, a.jobs, args, values, root)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.cmd == "plan":
        print(f"{study.name}: {study.question}")
        for c in commands:
            print("  " + shlex.join(["python", *c[1:]]))
        out = Path(a.results) if a.results else study.results_dir(values=values, variant=runner.variant(args))
        print(f"  then analyse sweeps/{runner.sweep_name(study, values, args)} -> {out}/")
        if note := runner.variant_note(study, values, args, a.results):
            print(f"  note: {note}")
        for n in study.notebooks:
            print(f"  notebook: notebooks/{n}")
        for t in study.tests:
            print(f"  tests: {t}")
        return 0
    try:
        return runner.run(study, a.jobs, args, values, root, a.results)
    except runner.AnalysisError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
