"""Train one run, or sweep a grid with Hydra's multirun. The loop lives in replication.run.

    python experiments/train.py data=shakespeare_windows init_state=learned model=lstm seed=3
    python experiments/train.py -m init_state=zero,noisy,learned,learned_noisy \
        data=synthetic_short,synthetic_long seed='range(5)' hydra/launcher=joblib

A run's records (config.yaml, metrics.jsonl, summary.json, checkpoint, wandb/) go to its Hydra
output directory; by default ``sweeps/<sweep_name>/<data>/<label>/seed=<k>``.
"""

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from replication.config import precheck
from replication.run import ConfigError, train
from replication.workers import RERUN, SweepStop, exit_with_sweep, os_error_line

CONF = Path(__file__).resolve().parents[1] / "conf"


@hydra.main(version_base="1.3", config_path=str(CONF), config_name="train")
def main(cfg: DictConfig) -> float | None:
    # A log handler that cannot write (a full disk) drops the record instead of printing a
    # "--- Logging error ---" block for every line: the job's own error line says what happened.
    logging.raiseExceptions = False
    if "joblib" in str(HydraConfig.get().launcher.get("_target_", "")).lower():
        exit_with_sweep()  # loky workers would outlive a killed sweep
    try:
        summary = train(cfg)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except OSError as e:
        print(f"error: {os_error_line(e)}", file=sys.stderr)
        raise SweepStop(1) from None
    return summary.get("best_val_loss")


if __name__ == "__main__":
    logging.raiseExceptions = False
    status = precheck(sys.argv[1:], CONF)
    if status is not None:
        sys.exit(status)
    os.environ["INITSTATE_SWEEP_PID"] = str(os.getpid())
    # Hydra's argparse takes its flags before the overrides only: `train.py a=1 -m b=1,2` is meant.
    flags = [a for a in sys.argv[1:] if a in ("-m", "--multirun")]
    sys.argv[1:] = flags + [a for a in sys.argv[1:] if a not in flags]
    try:
        main()
    except SweepStop as e:
        sys.exit(e.args[0] if e.args else 1)
    except KeyboardInterrupt:
        print(f"interrupted; {RERUN}", file=sys.stderr)
        sys.exit(130)
