"""The layout: a study is one folder, found by the registry, named alike in every layer; no import
cycle in src/; the registry needs only the standard library (make reads it before set-up)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from replication.studies import Study, all_studies, get

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def test_every_study_folder_declares_studies_and_names_match_in_every_layer():
    studies = all_studies()
    folders = {p.parent.name for p in (SRC / "replication" / "studies").glob("*/__init__.py")}
    assert {"claims", "r2rt", "noise", "conditioned"} <= folders
    assert {"default", "full", "r2rt", "r2rt_cpu", "noise", "conditioned"} <= set(studies)
    for name, s in studies.items():
        assert s.name == name and name in s.experiments, name  # conf/experiment/<name>.yaml is one of them
        for e in s.experiments:
            y = yaml.safe_load((ROOT / "conf" / "experiment" / f"{e}.yaml").read_text())
            # the yaml's own sweep (used when train.py runs it by hand) is the study's
            if "sweep_name" in y and e == name:
                assert y["sweep_name"] == (s.sweep or name), e
        for nb in s.notebooks:
            assert (ROOT / "notebooks" / nb).exists(), nb
        for t in s.tests:
            assert (ROOT / t).exists(), t
        s.analyze_function()  # importable
    committed = {p.name for p in (ROOT / "results").iterdir() if p.is_dir()}
    # every committed results folder is a study's, or an earlier run of one kept beside it
    assert all(c in studies or c.rsplit("_", 1)[0] in studies or c.endswith("_run1") for c in committed), committed


def test_unknown_study_is_one_line_with_the_valid_names():
    with pytest.raises(KeyError, match="unknown study 'bogus'; valid: default"):
        get("bogus")
    p = subprocess.run([sys.executable, "-m", "replication.studies", "plan", "bogus"], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.strip().startswith("error: unknown study 'bogus'; valid:")
    assert len(p.stderr.strip().splitlines()) == 1


def test_registry_needs_only_the_standard_library():
    code = ("import sys; from replication.studies import all_studies; all_studies(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'numpy', 'torch', 'hydra', 'omegaconf'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}).stdout
    assert out.strip() == "[]"


def test_plan_lists_each_experiment_with_the_studys_sweep():
    p = subprocess.run([sys.executable, "-m", "replication.studies", "plan", "noise", "--jobs", "3"],
                       capture_output=True, text=True, check=True)
    lines = [x for x in p.stdout.splitlines() if "train.py" in x]
    assert [x.split("experiment=")[1].split()[0] for x in lines] == ["noise_base", "noise"]
    assert all("sweep_name=default" in x and "hydra.launcher.n_jobs=3" in x for x in lines)
    assert "-> results/noise/" in p.stdout


def test_a_new_study_folder_is_found_without_editing_anything_else(tmp_path, monkeypatch):
    import replication.studies as S

    pkg = tmp_path / "extra"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('from replication.studies.base import Study\n'
                                     'STUDIES = (Study(name="mine", question="q", experiments=("mine",), '
                                     'analysis="x:y"),)\n')
    monkeypatch.setattr(S, "__path__", [*S.__path__, str(tmp_path)])
    # the folder is imported as replication.studies.<folder> through the package's path
    sys.modules.pop("replication.studies.extra", None)
    assert "mine" in all_studies()
    sys.modules.pop("replication.studies.extra", None)


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the src/ modules it imports (anywhere in its body, lazily or not); a package's own
    submodule imported as ``from pkg import sub`` counts as that submodule."""
    files = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = pkg.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base]) if base else ".".join(anchor)
                for a in node.names:
                    deps.add(f"{base}.{a.name}" if f"{base}.{a.name}" in files else base)
        graph[mod] = {d for d in deps if d in files and d != mod}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_no_import_cycle_in_src():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()))


def test_the_cycle_finder_finds_a_planted_cycle():
    g = import_graph()
    g["replication.analysis.stats"] = g["replication.analysis.stats"] | {"replication.studies.claims.claims"}
    assert find_cycle(g) is not None
    assert Study  # the public class is exported by the registry


def test_readme_findings_are_the_tables_own_numbers():
    """The README's findings block is exactly what the committed tables give (never typed by hand)."""
    from replication.studies import findings_block

    readme = (ROOT / "README.md").read_text()
    assert findings_block(ROOT / "results") in readme, "run: python -m replication.studies findings --write README.md"


def test_findings_follow_a_changed_table(tmp_path):
    import shutil

    from replication.studies import findings_block

    import pandas as pd

    shutil.copytree(ROOT / "results" / "r2rt_cpu", tmp_path / "r2rt_cpu")
    before = findings_block(tmp_path)
    p = tmp_path / "r2rt_cpu" / "r2rt_perplexity.csv"
    t = pd.read_csv(p)
    row = t["strategy"] == "learned"
    was = float(t.loc[row, "pct_vs_zero_paired"].iloc[0])  # the committed number, whatever it is
    t.loc[row, "pct_vs_zero_paired"] = -7.5
    t.to_csv(p, index=False)
    after = findings_block(tmp_path)
    assert f"learned {was:+.2f}%" in before and "learned -7.50%" in after


def test_readme_layout_names_paths_that_exist():
    import re

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Layout"):]
    for path in re.findall(r"^\| `([^`]+)`", table, re.M):
        for p in path.split("`, `"):
            assert (ROOT / p).exists(), p
    for folder in (ROOT / "src" / "replication" / "studies").glob("*/__init__.py"):
        assert f"`{folder.parent.name}/`" in table, folder.parent.name
