"""Turn a sweep directory into a study's tables, figures and REPORT.md (the logic is the study's, in
replication.studies.<folder>; `python -m replication.studies analyze NAME` is the same with the
study's own folders as defaults).

    python experiments/analyze.py sweeps/default results/default --profile default
"""

import argparse
import sys

from replication.studies import all_studies, get


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep_dir", help="the sweep: every directory below it holding a summary.json is a run")
    ap.add_argument("out_dir", help="where runs.csv, figures/ and REPORT.md go, e.g. results/default")
    ap.add_argument("--profile", default="default", help=f"the study: {', '.join(all_studies())}")
    ap.add_argument("--command", default="", help="the command that produced the sweep (for the report)")
    ap.add_argument("--sweep-seconds", type=float, default=None, help="wall time of the sweep (for the report)")
    args = ap.parse_args()
    try:
        study = get(args.profile)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    from replication.studies import runner

    try:
        res = runner.analyze(study, args.sweep_dir, args.out_dir, command=args.command,
                             sweep_seconds=args.sweep_seconds)
    except runner.AnalysisError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    runner.print_summary(res, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
