"""Train one run, or sweep a grid with Hydra's multirun. The loop lives in replication.run.

    python experiments/train.py data=shakespeare_windows init_state=learned model=lstm seed=3
    python experiments/train.py -m init_state=zero,noisy,learned,learned_noisy \
        data=synthetic_short,synthetic_long seed='range(5)' hydra/launcher=joblib
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from replication.config import check_overrides
from replication.run import ConfigError, train

CONF = Path(__file__).resolve().parents[1] / "conf"


@hydra.main(version_base="1.3", config_path=str(CONF), config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        summary = train(cfg)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    return summary.get("best_val_loss")


if __name__ == "__main__":
    check_overrides(sys.argv[1:], CONF)
    main()
