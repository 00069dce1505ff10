"""Train one run, or sweep a grid with Hydra's multirun. The loop lives in replication.run.

    python experiments/train.py data=shakespeare_windows init_state=learned model=lstm seed=3
    python experiments/train.py -m init_state=zero,noisy,learned,learned_noisy \
        data=synthetic_short,synthetic_long seed='range(5)' hydra/launcher=joblib

A run's records (config.yaml, metrics.jsonl, summary.json, checkpoint, wandb/) go to its Hydra
output directory; by default ``sweeps/<sweep_name>/<data>/<label>/seed=<k>``.
"""

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from replication.config import precheck
from replication.run import ConfigError, train
from replication.workers import exit_with_sweep

CONF = Path(__file__).resolve().parents[1] / "conf"


@hydra.main(version_base="1.3", config_path=str(CONF), config_name="train")
def main(cfg: DictConfig) -> float | None:
    if "joblib" in str(HydraConfig.get().launcher.get("_target_", "")).lower():
        exit_with_sweep()  # loky workers would outlive a killed sweep
    try:
        summary = train(cfg)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    return summary.get("best_val_loss")


if __name__ == "__main__":
    status = precheck(sys.argv[1:], CONF)
    if status is not None:
        sys.exit(status)
    os.environ["INITSTATE_SWEEP_PID"] = str(os.getpid())
    main()
