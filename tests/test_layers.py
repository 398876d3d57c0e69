"""The lab's layers (issue 14): import-linter's contracts in pyproject.toml hold, and break on a
deliberately wrong import, naming it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")

pytestmark = pytest.mark.skipif(LINT is None, reason="import-linter is not installed (pip install -e '.[test]')")


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([LINT, "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def _copy_tree(dst: Path) -> Path:
    for name in ("lab", "agents", "envs"):
        shutil.copytree(ROOT / name, dst / name, ignore=shutil.ignore_patterns("__pycache__", "levels", "*.txt"))
    shutil.copy(ROOT / "pyproject.toml", dst / "pyproject.toml")
    return dst


def test_the_contracts_hold() -> None:
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize("path, line, contract, named", [
    # an agent reaching into the application layer
    ("agents/ppo.py", "from lab.run import build_source", "import the core only", "agents.ppo -> lab.run"),
    # the core importing an agent
    ("lab/core/trainer.py", "import agents.ppo", "lab.core imports no agent or env", "lab.core.trainer -> agents.ppo"),
    # envs importing agents
    ("envs/source.py", "import agents.networks", "do not import each other", "envs.source -> agents.networks"),
    # a cycle between two modules of a package
    ("envs/mario/level.py", "import envs.mario.vector", "no import cycles", ".level -> .vector"),
])
def test_a_wrong_import_breaks_a_contract_and_is_named(tmp_path: Path, path: str, line: str, contract: str,
                                                       named: str) -> None:
    root = _copy_tree(tmp_path)
    target = root / path
    target.write_text(target.read_text() + f"\n{line}  # deliberately wrong\n")
    proc = _lint(root)
    assert proc.returncode != 0
    out = proc.stdout
    broken = [ln for ln in out.splitlines() if ln.endswith("BROKEN")]
    assert any(contract in ln for ln in broken), out
    assert named in out, out  # the offending import is named in the report


def test_every_module_of_lab_is_in_a_layer(tmp_path: Path) -> None:
    """A new module of lab/ must be placed in a layer (exhaustive layers contract)."""
    root = _copy_tree(tmp_path)
    (root / "lab" / "newthing.py").write_text('"""A module nobody placed."""\n')
    proc = _lint(root)
    assert proc.returncode != 0 and "lab.newthing" in proc.stdout, proc.stdout


def test_agents_and_envs_are_kept_from_every_application_module() -> None:
    """The 'learners' contract lists the same application modules the layers contract places."""
    import tomllib

    contracts = {c["id"]: c for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
                 ["contracts"]}
    app = {f"lab.{m.strip()}" for m in contracts["layers"]["layers"][0].split(":")}
    assert set(contracts["learners"]["forbidden_modules"]) == app
    on_disk = {f"lab.{p.stem}" for p in (ROOT / "lab").glob("*.py") if p.stem != "__init__"}
    assert on_disk == app


# Words of the application's domains: the core must not know them (issue 14). Checked in the core's
# code (names, strings), not in comments or docstrings; `random-number generators` are fine.
DOMAIN_WORDS = re.compile(r"\b(return_mean|episodes?|reward|returns?_\w+|stop_return|discriminator|"
                          r"gan|GAN|ppo|PPO|dqn|DQN|env|envs|gym|gymnasium|agents?|rollouts?|dataset)\b")


def test_the_core_names_no_agent_env_dataset_or_domain_word() -> None:
    import ast
    import io
    import tokenize

    found = []
    for path in sorted((ROOT / "lab" / "core").glob("*.py")):
        text = path.read_text()
        doc_lines: set[int] = set()
        for node in ast.walk(ast.parse(text)):
            if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body
                    and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
                    and isinstance(node.body[0].value.value, str)):
                doc_lines.update(range(node.body[0].lineno, node.body[0].end_lineno + 1))
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in (tokenize.NAME, tokenize.STRING) and tok.start[0] not in doc_lines:
                for m in DOMAIN_WORDS.finditer(tok.string):
                    found.append(f"{path.name}:{tok.start[0]}: {m.group(0)}")
    assert not found, found
