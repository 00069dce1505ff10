"""``hydra/sweeper=prechecked``: Hydra's basic sweeper without its serial pre-launch composition,
and with one run directory per config.

Before launching a batch, the basic sweeper composes the config of every job in the parent process,
one after another, to catch composition errors early. That costs ~0.2 s a job here, so a 350-run
sweep spent ~70 s composing before its first job started, on a budget of 15 minutes. Our entry point
(``experiments/train.py``) runs :func:`replication.config.precheck` first, which composes and
validates every swept value, so the check is repeated work; each job is still composed (and
validated) in its own worker, as with the basic sweeper.

Run directories: the default one (``<data>/<label>/seed=<k>``) tells data, strategy and seed apart,
but not, say, two learning rates; two jobs in one directory would replace each other's records. So
each job gets ``paths.swept`` set to ``"<key>=<value>,.../"`` for the swept keys whose values share a
directory (found by composing each value once: precheck's finding, else done here), as Hydra's
``override_dirname`` does, and a sweep over data, strategy and seed keeps its paths.

A sweep that cannot go on stops with one line and exit status 1, not Hydra's traceback: a job that
hit a full disk (it printed its line and raised :class:`~replication.workers.SweepStop`), Hydra
itself failing to write a job's ``.hydra/`` files, or a joblib worker killed from outside.
"""

import sys
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
    """:class:`BasicSweeper` (same grid, order, batching and ``params``) minus the per-job check,
    plus ``paths.swept`` in every job's overrides."""

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        return None

    def sweep(self, arguments):
        from replication.workers import RERUN, SweepStop, os_error_line

        try:
            return super().sweep(arguments)
        except SweepStop as e:
            sys.exit(e.args[0] if e.args else 1)
        except OSError as e:
            print(f"error: {os_error_line(e)}", file=sys.stderr)
        except Exception as e:
            if type(e).__name__ != "TerminatedWorkerError":  # joblib's; named so joblib stays optional
                raise
            print(f"error: a sweep worker died (killed from outside?); {RERUN}", file=sys.stderr)
        sys.exit(1)

    def split_arguments(self, overrides, max_batch_size):  # an instance method here: it needs the config
        from replication import config as precheck

        batches = BasicSweeper.split_arguments(overrides, max_batch_size)
        keys = precheck.SWEPT_OUTSIDE_PATH
        if keys is None:
            keys = self._outside_path(overrides)
        return [[[*job, f"paths.swept='{precheck.path_segment(job, keys)}'"] for job in batch] for batch in batches]

    def _outside_path(self, overrides) -> list[str]:
        """:func:`replication.config.outside_path`, composing each swept value with Hydra's loader."""
        from replication.config import output_dir, outside_path

        swept = {o.get_key_element(): [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]
                 for o in overrides if o.is_sweep_override()}
        fixed = [f"{o.get_key_element()}={o.get_value_element_as_str()}" for o in overrides
                 if not o.is_sweep_override()]
        firsts = {k: v[0] for k, v in swept.items()}
        dirs = {}
        for key, values in swept.items():
            others = [v for k, v in firsts.items() if k != key]
            jobs = [fixed + others + [v] for v in values]
            dirs[key] = [output_dir(self.hydra_context.config_loader.load_sweep_config(self.config, j), True)
                         for j in jobs]
        return outside_path(dirs)
