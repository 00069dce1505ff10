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


def test_reproduce_passes_args_with_shell_characters_untouched(tmp_path):
    """``make reproduce ARGS="seed=range(2)"`` once broke in the shell (issue 21, item 11): the
    parentheses reach the runner as they were typed. The runner is replaced by a script that prints
    its environment's ARGS and its arguments; set-up is marked done (``-o``), so nothing installs."""
    import subprocess

    fake = tmp_path / "py"
    fake.write_text('#!/bin/bash\necho "ARGS=[$ARGS]"; echo "argv=[$*]"\n')
    fake.chmod(0o755)
    for args in ("seed=range(2)", "seed='range(2)' trainer.epochs=2", 'init_state.label="a b"'):
        p = subprocess.run(["make", "-o", ".venv/.installed", "reproduce", "PROFILE=default", f"ARGS={args}",
                            f"PY={fake}", "JOBS=1"], cwd=ROOT, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        assert f"ARGS=[{args}]" in p.stdout
        assert "argv=[-m replication.studies run default --jobs 1]" in p.stdout


def _doc_commands():
    """Every line of a fenced code block in the README and docs/, with its file."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        inside = False
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("```"):
                inside = not inside
            elif inside:
                yield path.relative_to(ROOT), line.strip()


def test_doc_examples_use_the_venv_python_and_write_outside_the_checkout():
    """Examples are pasted as they are (issue 21, item 11): a bare ``python`` is not the project's
    environment, and a file an example writes must not land as an untracked file in the checkout."""
    # (a bare `pip install` of the library into the reader's own environment is fine)
    bare = [(p, c) for p, c in _doc_commands() if re.match(r"python3? ", c)]
    assert not bare, bare
    written = []
    for p, c in _doc_commands():
        written += [(p, m) for m in re.findall(r"np\.savez\('([^']+)'", c)]
        written += [(p, m) for m in re.findall(r"(?:DATA|RESULTS)=(\S+)", c) if "npz" not in m or "savez" in c]
    inside = [(p, w) for p, w in written if not w.startswith(("/tmp/", "$", "path/to"))]
    assert not inside, inside


def test_readme_says_where_a_shrunk_run_writes_and_how_to_name_the_folder():
    """issue 21, item 10: the results-folder option is in the README itself, not only in docs/."""
    text = (ROOT / "README.md").read_text()
    assert "results/<study>-<hash>/" in text and "`RESULTS=dir`" in text
