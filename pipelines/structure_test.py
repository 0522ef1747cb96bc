"""The layout's rules that import-linter cannot state alone (pyproject.toml [tool.importlinter])."""

from __future__ import annotations

import re
import tomllib

from pipelines.config import REPO_ROOT

PACKAGE = REPO_ROOT / "pipelines"


def _layered() -> set[str]:
    contracts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["name"] == "packages depend downward only")["layers"]
    return {name.strip() for layer in layers for name in re.split(r"[|:]", layer)}


def test_every_module_and_package_has_a_layer():
    """A new pipelines/<x>.py or pipelines/<x>/ outside the contract would be checked by nothing."""
    found = {
        f"pipelines.{p.stem}"
        for p in PACKAGE.glob("*.py")
        if p.stem != "__init__" and not p.stem.endswith("_test") and p.stem != "conftest"
    }
    found |= {f"pipelines.{d.name}" for d in PACKAGE.iterdir() if (d / "__init__.py").is_file()}
    assert found - _layered() == set(), "add them to a layer in pyproject.toml [tool.importlinter]"


def test_only_the_launcher_launches_nodes():
    """One node launcher: TFX's portable launcher is imported by pipelines/runners/launcher.py only
    (import-linter sees external packages only at their top level, `tfx`)."""
    pattern = re.compile(r"tfx\.orchestration\.portable(\.launcher\b| import [^\n]*\blauncher\b)")
    users = sorted(
        str(p.relative_to(REPO_ROOT))
        for root in ("pipelines", "components", "tests")
        for p in (REPO_ROOT / root).rglob("*.py")
        if pattern.search(p.read_text())
    )
    assert users == ["pipelines/runners/launcher.py"]
