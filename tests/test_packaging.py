"""The two distributions: the library wheel (initstate, torch only) and the harness wheel.

Both wheels are built once per module, offline (``--no-build-isolation`` with this environment's
setuptools), from copies of the source so that the work tree gets no ``build/`` or egg-info. The
library wheel is then installed alone into a fresh venv, which sees torch through a ``.pth`` file
and nothing of the repository, and runs the README's quick start there.
"""

import ast
import email.parser
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib
import torch

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "src" / "initstate"
IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")

pytestmark = pytest.mark.timeout(240)


def _source_version() -> str:
    """__version__ as written in src/initstate/__init__.py (the one place it is kept)."""
    tree = ast.parse((LIB / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("src/initstate/__init__.py has no __version__")


def _quick_start(readme: Path) -> str:
    """The first python block after the '## ... quick start' heading of a README."""
    text = readme.read_text()
    start = re.search(r"^##+ (Library q|Q)uick start$", text, re.M | re.I)
    assert start, f"{readme} has no quick-start section"
    block = re.search(r"```python\n(.*?)```", text[start.end():], re.S)
    assert block, f"{readme}'s quick start has no python block"
    return block.group(1)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("wheels")
    lib = tmp / "lib" / "src"  # the library's project directory is src/ itself
    shutil.copytree(ROOT / "src", lib, ignore=IGNORE)
    harness = tmp / "harness"
    shutil.copytree(ROOT / "src", harness / "src", ignore=IGNORE)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, harness / name)
    out = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "-w", str(out), str(lib), str(harness)],
        check=True, capture_output=True, text=True,
    )
    found = {w.name.split("-")[0]: w for w in out.glob("*.whl")}
    assert set(found) == {"initstate", "initstate_replication"}, sorted(found)
    return found


def _metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(z.read(name).decode())


def test_library_wheel_holds_only_the_library(wheels):
    version = _source_version()
    with zipfile.ZipFile(wheels["initstate"]) as z:
        names = z.namelist()
    info = f"initstate-{version}.dist-info/"
    stray = [n for n in names if not (n.startswith("initstate/") or n.startswith(info))]
    assert stray == [], f"files outside initstate/ in the library wheel: {stray}"
    assert "initstate/py.typed" in names
    sources = sorted(p.relative_to(LIB.parent).as_posix() for p in LIB.rglob("*.py"))
    assert sorted(n for n in names if n.endswith(".py")) == sources
    assert f"{info}licenses/LICENSE" in names


def test_library_metadata_names_torch_alone(wheels):
    meta = _metadata(wheels["initstate"])
    assert meta["Name"] == "initstate"
    assert meta["Version"] == _source_version()
    assert meta.get_all("Requires-Dist") == ["torch>=2.4"]
    assert meta.get_all("Provides-Extra") is None  # an extra would add Requires-Dist lines
    assert meta["License-Expression"] == "MIT"
    assert meta["Requires-Python"] == ">=3.10"


def test_version_is_kept_in_one_place(wheels):
    import initstate

    assert initstate.__version__ == _source_version()
    assert _metadata(wheels["initstate_replication"])["Version"] == _source_version()
    for pyproject in (ROOT / "pyproject.toml", ROOT / "src" / "pyproject.toml"):
        config = tomllib.loads(pyproject.read_text())
        assert "version" not in config["project"] and "version" in config["project"]["dynamic"], pyproject
        assert config["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "initstate.__version__"}


def test_harness_wheel_depends_on_the_library_and_ships_the_sweeper(wheels):
    with zipfile.ZipFile(wheels["initstate_replication"]) as z:
        tops = {n.split("/")[0] for n in z.namelist() if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"replication", "hydra_plugins"}
    meta = _metadata(wheels["initstate_replication"])
    assert "initstate" in meta.get_all("Requires-Dist")
    assert meta["Name"] == "initstate-replication"


def test_readmes_share_one_quick_start():
    assert _quick_start(ROOT / "src" / "README.md") == _quick_start(ROOT / "README.md")


def test_library_wheel_installs_alone_and_runs_the_quick_start(wheels, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # torch without downloading it: this interpreter's copy, appended to the venv's path. Only
    # the directory is added; the .pth files inside it (this repo's editable installs) are not read.
    (site / "_torch_from_host.pth").write_text(str(Path(torch.__file__).parents[1]) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
         "--quiet", str(wheels["initstate"])],
        check=True, capture_output=True, text=True,
    )
    script = _quick_start(ROOT / "README.md") + (
        "import importlib.util, sys\n"
        "print(initstate.__file__)\n"
        "print(importlib.util.find_spec('replication'), importlib.util.find_spec('hydra_plugins.prechecked_sweeper'))\n"
        "print(tuple(out.shape), tuple(h0.shape), tuple(c0.shape))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([py, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    where, specs, shapes = run.stdout.strip().splitlines()[-3:]
    assert Path(where).is_relative_to(site), where  # the installed wheel, not the work tree
    assert specs == "None None"  # neither the harness nor its Hydra plugin came along
    # batch_first (B=16, L=50) into 2 layers of 128: output (16, 50, 128), each state (2, 16, 128).
    assert shapes == "(16, 50, 128) (2, 16, 128) (2, 16, 128)"


def test_both_distributions_carry_the_same_license():
    # src/ is the library's project directory and setuptools takes no path outside it: a copy.
    assert (ROOT / "src" / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
