"""The shape of the code, checked on every run (next to the import-linter contracts in pyproject.toml):
no module of bot/, scheduler/, handlers/ or models/ imports itself through others, and the core
reaches the database only through `Repo`."""

from __future__ import annotations

import ast
import fnmatch
import tomllib
from graphlib import CycleError, TopologicalSorter
from itertools import pairwise
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "scheduler", "handlers", "models")


def _known_circles() -> list[tuple[str, str]]:
    """The imports the acyclic contract lists as known (one list, in pyproject.toml)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "acyclic_siblings")
    pairs = [line.split(" -> ") for line in contract.get("ignore_imports", [])]
    return [(importer.replace("**", "*"), imported.replace("**", "*")) for importer, imported in pairs]


def test_no_import_circles_between_any_modules() -> None:
    """Every import counts: at the top, inside a function, or only for type checking. The
    acyclic_siblings contract finds circles between sibling packages; this finds any, down to a
    package and its own modules, and names the imports with their lines."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    known = _known_circles()
    imports: dict[str, set[str]] = {}
    for module in graph.modules:
        imports[module] = {
            imported for imported in graph.find_modules_directly_imported_by(module)
            if imported.split(".")[0] in PACKAGES
            and not any(fnmatch.fnmatch(module, a) and fnmatch.fnmatch(imported, b) for a, b in known)
        }
    try:
        TopologicalSorter(imports).prepare()
    except CycleError as error:
        circle: list[str] = error.args[1][::-1]  # graphlib lists it against the imports
        lines = []
        for importer, imported in pairwise(circle):
            at = [d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)]
            lines.append(f"  {importer} -> {imported} (line {', '.join(map(str, at))})")
        raise AssertionError("an import circle; move what both need below both:\n" + "\n".join(lines)) from None


def test_the_core_never_reaches_the_session_behind_repo() -> None:
    """Flows and the domain below them ask `Repo` (and its query objects) for what they need: none
    touches `.session` (adding rows, getting by id, savepoints, passing it to query modules)."""
    found = []
    for path in sorted((ROOT / "handlers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "session":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "give Repo a method instead:\n" + "\n".join(found)
