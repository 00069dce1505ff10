"""Repository hygiene: the conda environment and pyproject agree; the Makefile has its targets."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # initstate is the library in src/, which environment.yml installs with `-e ./src`.
    wanted = {_name(r): r for r in project["dependencies"] if _name(r) != "initstate"}
    for extra in project["optional-dependencies"].values():
        wanted.update({_name(r): r for r in extra})
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {_name(r): r for r in pip if not r.startswith("-e")}
    # Both distributions, the library before the harness that depends on it.
    assert [r for r in pip if r.startswith("-e")] == ["-e ./src", "-e ."]
    assert set(listed) == set(wanted), f"only in environment.yml: {set(listed) - set(wanted)}; only in pyproject: {set(wanted) - set(listed)}"
    for name, req in wanted.items():
        if name != "torch":  # environment.yml pins the CPU wheel make setup installs
            assert listed[name].replace(" ", "") == req.replace(" ", ""), name
    make = (ROOT / "Makefile").read_text()
    pinned = re.search(r"^TORCH_SPEC \?= (\S+)", make, re.M).group(1)
    assert listed["torch"] == pinned


def test_makefile_targets_and_ci():
    make = (ROOT / "Makefile").read_text()
    for target in ("help", "setup", "test", "lint", "reproduce"):
        assert re.search(rf"^{target}:.*## ", make, re.M), target
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make reproduce" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_package_docstring_example_runs():
    import doctest

    import initstate

    assert doctest.testmod(initstate).failed == 0


def test_library_imports_only_torch():
    """The library is usable without the experiment stack: no hydra, omegaconf, pandas or wandb."""
    import subprocess
    import sys

    code = ("import sys, initstate; bad = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'hydra', 'omegaconf', 'pandas', 'wandb', 'scipy', 'matplotlib', 'replication'}); print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_bad_profile_fails_before_setup():
    import subprocess

    p = subprocess.run(["make", "-n", "reproduce", "PROFILE=bogus"], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode != 0 and "PROFILE must be one of: default" in p.stderr
    assert "pip install" not in p.stdout  # nothing of set-up would have run


def test_conf_readme_names_every_yaml_and_every_key():
    """conf/README.md lists every group choice and every option of the schema."""
    import dataclasses

    from replication import schema

    text = (ROOT / "conf" / "README.md").read_text()
    for path in (ROOT / "conf").glob("*/*.yaml"):
        assert f"`{path.stem}`" in text, path
    for name, cls in (("model", schema.ModelConfig), ("init_state", schema.InitStateConfig),
                      ("trainer", schema.TrainerConfig), ("logger", schema.LoggerConfig),
                      ("paths", schema.PathsConfig)):
        for f in dataclasses.fields(cls):
            assert f"`{name}.{f.name}`" in text, f"{name}.{f.name}"
    for f in dataclasses.fields(schema.ScaleConfig):
        assert f"`{f.name}`" in text, f.name
