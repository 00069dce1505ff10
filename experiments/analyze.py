"""Turn a sweep directory into tables, figures and REPORT.md under protocol v2 (the logic is
replication.analysis; the rules are printed at the top of every report).

    python experiments/analyze.py sweeps/reproduce results/default --profile default
"""

import argparse

from replication.analysis import analyze


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep_dir", help="the sweep: every directory below it holding a summary.json is a run")
    ap.add_argument("out_dir", help="where runs.csv, figures/ and REPORT.md go, e.g. results/default")
    ap.add_argument("--profile", default="default")
    ap.add_argument("--command", default="", help="the command that produced the sweep (for the report)")
    ap.add_argument("--sweep-seconds", type=float, default=None, help="wall time of the sweep (for the report)")
    ap.add_argument("--v1", default="auto", metavar="VERDICTS_CSV",
                    help="v1 verdicts.csv for the report's appendix; 'auto' (default): <out_dir>_v1/verdicts.csv "
                         "if it exists; 'none': no appendix")
    args = ap.parse_args()
    res = analyze(args.sweep_dir, args.out_dir, profile=args.profile, command=args.command,
                  sweep_seconds=args.sweep_seconds, v1_verdicts=None if args.v1 == "none" else args.v1)
    skipped = f" ({res['skipped']} file(s) skipped, listed above)" if res["skipped"] else ""
    print(f"{res['runs']} runs analysed{skipped} -> {args.out_dir}/REPORT.md")
    if not res["verdicts"]:
        print("  no verdict: no dataset has zero and another strategy finished for the same seed")
    for v in res["verdicts"]:
        print(f"  {v['claim']:<26} {v['dataset']:<22} {v['verdict']}")


if __name__ == "__main__":
    main()
