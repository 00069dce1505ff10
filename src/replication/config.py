"""Checks that run before Hydra starts, so that a bad command costs one clear line, not a trace.

:func:`precheck` composes the config the way Hydra will (once per distinct value of every swept
key, not the whole grid), turns Hydra's multi-line composition errors into one line, runs
:func:`replication.schema.validate` on each, and handles a read-only output directory: Hydra
would write ``.hydra/`` and ``multirun.yaml`` there and fail with a long trace, even when every
run is already finished. Skipping needs no write access, so such a command only reports.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from . import schema  # noqa: F401 - registers train_schema in Hydra's ConfigStore
from .schema import ConfigError, validate

PASS_THROUGH_FLAGS = ("-m", "--multirun")
# Set by precheck for the sweeper in the same process: the swept keys that get a path segment
# (None: no precheck ran; the sweeper then works it out itself).
SWEPT_OUTSIDE_PATH: list[str] | None = None


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


def composition_error(e: Exception) -> str:
    """One line from a Hydra/OmegaConf composition error: the key and what was wrong with it."""
    cause = e.__cause__ or e
    lines = [x.strip() for x in str(e).strip().splitlines() if x.strip()]
    if e.__cause__ is None and len(lines) > 1:  # "In 'x': Error raised while composing config:\n<what>"
        where = lines[0].split(":")[0]
        key = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("full_key:")), None)
        return f"{where}: {lines[1]}" + (f" ({key})" if key else "")
    msg = str(getattr(cause, "msg", None) or cause).strip().splitlines()[0]
    key = getattr(cause, "full_key", None)
    if "could not be converted" in msg and key:
        return f"{key}: {msg}"
    if "not in" in msg and key:
        return f"unknown config key {key!r}; it is not part of the schema (see conf/ and replication.schema)"
    first = str(e).strip().splitlines()[0]
    return f"{first}: {msg}" if key is None and msg not in first else (f"{key}: {msg}" if key else first)


def _sweeps(argv: list[str], cfg: DictConfig, multirun: bool, groups: dict[str, list[str]]
            ) -> tuple[list[str], dict[str, list[str]]]:
    """Split the overrides into fixed ones and ``{key: [values]}`` of the swept ones (argv and
    the experiment's ``hydra.sweeper.params``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    fixed, swept = [], {}
    params = cfg.hydra.sweeper.get("params") if multirun else None
    params = OmegaConf.to_container(params) if params else {}
    given = {o.key_or_group for o in parser.parse_overrides(argv)}
    items = [f"{k}={v}" for k, v in params.items() if k not in given] + list(argv)
    for o, text in zip(parser.parse_overrides(items), items):
        if multirun and o.is_sweep_override():
            prefix = "+" if o.is_add() else ("++" if o.is_force_add() else "")
            swept[o.key_or_group] = [f"{prefix}{o.key_or_group}={v}" for v in _sweep_values(o, groups)]
        else:
            fixed.append(text)
    return fixed, swept


def outside_path(dirs: dict[str, list[Path]]) -> list[str]:
    """The swept keys that the run directory does not tell apart: ``dirs[key]`` holds the
    directory of each of the key's values (the other keys at their first value); a key whose
    values share a directory gets its own path segment (:func:`path_segment`)."""
    return [key.lstrip("+~") for key, paths in dirs.items() if len(set(paths)) < len(paths)]


def path_segment(job: list[str], keys: list[str]) -> str:
    """``"trainer.lr=0.01,data.path=%2Fx%2Fa.npz/"`` for a job's overrides of ``keys`` ("" for none),
    as Hydra's ``override_dirname`` writes them; a value is URL-quoted so it stays one plain name."""
    from urllib.parse import quote

    values = dict(o.lstrip("+~").split("=", 1) for o in job if "=" in o)
    parts = [f"{k}={quote(values[k], safe='-_.+:@')}" for k in keys if k in values]
    return ",".join(parts) + "/" if parts else ""


def _sweep_values(o, groups: dict[str, list[str]]) -> list[str]:
    """The values of a sweep override, as the basic sweeper will list them: ``a,b``, ``range()``,
    ``choice()``, and ``glob()`` over a config group's choices; ``interval()`` (for optimizing
    sweepers) is a :class:`ConfigError`."""
    from hydra.core.override_parser.types import ValueType

    key = o.key_or_group.lstrip("+~")
    if o.value_type == ValueType.GLOB_CHOICE_SWEEP:
        if key not in groups:
            raise ConfigError(f"{o.input_line}: glob() picks choices of a config group, and {key} is none; "
                              f"groups: {', '.join(groups)}")
        values = o.value().filter(groups[key])
        if not values:
            raise ConfigError(f"{o.input_line} matches no {key}; valid choices: {', '.join(groups[key])}")
        return values
    if not o.is_discrete_sweep():
        raise ConfigError(f"{o.input_line}: this sweeper runs listed values only; valid: a,b,c, range(start,stop[,step]), "
                          "choice(a,b,...) or glob(pattern) over a config group (interval() needs an optimizing sweeper)")
    return list(o.sweep_string_iterator())


def _compose(overrides: list[str]) -> DictConfig:
    from hydra import compose

    return compose("train", overrides=overrides, return_hydra_config=True)


def _job_config(overrides: list[str]) -> DictConfig:
    """A composed job config; raises ConfigError with one line on any problem."""
    try:
        cfg = _compose(overrides)
    except Exception as e:  # noqa: BLE001 - Hydra raises several composition error types
        raise ConfigError(composition_error(e)) from None
    job = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    validate(job)
    return cfg


def output_dir(cfg: DictConfig, multirun: bool) -> Path:
    """Hydra's output directory for this job config (sweep dir + subdir, or run dir)."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.instance()
    before = hc.cfg
    hc.set_config(cfg)  # the ${hydra:...} resolver reads it; restored so no later code sees a fake job
    try:
        h = cfg.hydra
        path = Path(h.sweep.dir) / str(h.sweep.subdir) if multirun else Path(h.run.dir)
    finally:
        hc.cfg = before
    return path.absolute()


def _writable(path: Path) -> bool:
    """Whether ``path`` (or its nearest existing ancestor) can be written to."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return os.access(path, os.W_OK)


def precheck(argv: list[str], conf_dir: Path, *, out=print) -> int | None:
    """Validate the command; return an exit status to stop with, or None to hand over to Hydra."""
    if any(a.startswith("-") and a not in PASS_THROUGH_FLAGS for a in argv):
        return None  # --help, --cfg, --info ...: Hydra's own modes
    msg = bad_override(argv, conf_dir)
    if msg:
        print(f"error: {msg}", file=sys.stderr)
        return 2
    from hydra import initialize_config_dir

    args = [a for a in argv if a not in PASS_THROUGH_FLAGS]
    user = [a for a in args if not a.lstrip("+~").startswith("hydra")]
    with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir)):
        try:
            groups = group_choices(conf_dir)
            base = _job_config(_first_values(args, groups))
            multirun = len(args) != len(argv) or base.hydra.mode == "MULTIRUN"
            fixed, swept = _sweeps(user, base, multirun, groups)
            firsts = [v[0] for v in swept.values()]
            dirs = {}
            for key, values in swept.items():
                others = [f for f in firsts if not f.split("=", 1)[0].lstrip("+") == key.lstrip("+")]
                dirs[key] = [output_dir(base, multirun)]
                dirs[key] += [output_dir(_job_config(fixed + others + [v]), multirun) for v in values[1:]]
            global SWEPT_OUTSIDE_PATH
            SWEPT_OUTSIDE_PATH = outside_path(dirs)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        hydra_args = [a for a in args if a.lstrip("+~").startswith("hydra")]
        root = Path(base.hydra.sweep.dir if multirun else output_dir(base, False)).absolute()
        if _writable(root):
            return None
        return _read_only(root, fixed + hydra_args, swept, multirun, out)


def _first_values(args: list[str], groups: dict[str, list[str]]) -> list[str]:
    """Each sweep override (``a=x,y``, ``a=range(...)``, ``group=glob(...)``) cut to its first value."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for text in args:
        try:
            parser.parse_override(text)
        except HydraException:  # the grammar's complaint is a line of token names
            raise ConfigError(f"cannot parse the override {text!r}; see Hydra's override grammar "
                              "(hydra.cc/docs/advanced/override_grammar/basic)") from None
    parsed = parser.parse_overrides(args)
    out = []
    for o, text in zip(parsed, args):
        if o.is_sweep_override():
            out.append(f"{text.split('=', 1)[0]}={_sweep_values(o, groups)[0]}")
        else:
            out.append(text)
    return out


def _read_only(root: Path, fixed: list[str], swept: dict, multirun: bool, out) -> int:
    """Every job finished: report the skips and stop (exit 0); else one line naming ``root``."""
    from .run import finished, load_dataset, run_key

    grid = list(itertools.product(*swept.values())) or [()]
    pending = 0
    for combo in grid:
        segment = path_segment(list(combo), SWEPT_OUTSIDE_PATH or []) if multirun else ""
        cfg = _job_config(fixed + list(combo) + [f"paths.swept='{segment}'"])
        job = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
        run_dir = output_dir(cfg, multirun)
        done = finished(run_dir, run_key(job, load_dataset(job, log=lambda *_: None)))
        if done is None:
            pending += 1
        else:
            out(f"[skip] {run_dir} already finished ({done['status']})")
    if pending:
        print(f"error: {root} is not writable and {pending} of {len(grid)} runs are not finished; "
              "make it writable or choose another paths.sweeps_root / hydra.sweep.dir", file=sys.stderr)
        return 2
    return 0
