"""``hydra/sweeper=prechecked``: Hydra's basic sweeper without its serial pre-launch composition.

Before launching a batch, the basic sweeper composes the config of every job in the parent process,
one after another, to catch composition errors early. That costs ~0.2 s a job here, so a 350-run
sweep spent ~70 s composing before its first job started, on a budget of 15 minutes. Our entry point
(``experiments/train.py``) runs :func:`replication.config.precheck` first, which composes and
validates every swept value, so the check is repeated work; each job is still composed (and
validated) in its own worker, as with the basic sweeper.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf
from hydra.core.config_store import ConfigStore


@dataclass
class PrecheckedSweeperConf(BasicSweeperConf):
    _target_: str = "hydra_plugins.prechecked_sweeper.prechecked_sweeper.PrecheckedSweeper"


ConfigStore.instance().store(group="hydra/sweeper", name="prechecked", node=PrecheckedSweeperConf,
                             provider="initstate")


class PrecheckedSweeper(BasicSweeper):
    """:class:`BasicSweeper` (same grid, order, batching and ``params``) minus the per-job check."""

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        return None
