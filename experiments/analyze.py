"""Turn a sweep directory into tables, figures and REPORT.md (the logic is replication.analysis).

    python experiments/analyze.py sweeps/reproduce results/default --profile default
"""

import argparse

from replication.analysis import analyze


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep_dir", help="the sweep's run directories: <sweep>/<data>/<strategy>/seed=<k>")
    ap.add_argument("out_dir", help="where runs.csv, figures/ and REPORT.md go, e.g. results/default")
    ap.add_argument("--profile", default="default")
    ap.add_argument("--command", default="", help="the command that produced the sweep (for the report)")
    ap.add_argument("--sweep-seconds", type=float, default=None, help="wall time of the sweep (for the report)")
    args = ap.parse_args()
    res = analyze(args.sweep_dir, args.out_dir, profile=args.profile, command=args.command,
                  sweep_seconds=args.sweep_seconds)
    print(f"{res['runs']} runs analysed -> {args.out_dir}/REPORT.md")
    for v in res["verdicts"]:
        print(f"  {v['claim']:<14} {v['dataset']:<22} {v['verdict']}")


if __name__ == "__main__":
    main()
