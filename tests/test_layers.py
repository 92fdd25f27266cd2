"""The import layers: every module imports only its own layer or those below it, and no
module imports itself back through others. Function-level imports count like the rest."""
import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pgmdbn"

# bottom to top; a module's layer is the first prefix that matches its dotted name
LAYERS = [
    ("base", ["pgmdbn.errors", "pgmdbn.limits", "pgmdbn.validation", "pgmdbn.compiled", "pgmdbn.hooks", "pgmdbn.results", "pgmdbn.progress", "pgmdbn.data", "pgmdbn.distributed"]),
    ("units", ["pgmdbn.units"]),
    ("model", ["pgmdbn.factors", "pgmdbn.graph", "pgmdbn.builders", "pgmdbn.io"]),
    ("inference", ["pgmdbn.inference", "pgmdbn.protocols", "pgmdbn.centering", "pgmdbn.gradients"]),
    ("engines", ["pgmdbn.engines"]),
    ("estimators", ["pgmdbn.estimators"]),
    ("training", ["pgmdbn.training"]),
    ("applications", ["pgmdbn.finetune", "pgmdbn.apps"]),
    ("interface", ["pgmdbn.api", "pgmdbn.builtins", "pgmdbn.plot", "pgmdbn.graphplot", "pgmdbn.sklearn", "pgmdbn.pyro",
                   "pgmdbn.demo", "pgmdbn.cli", "pgmdbn.testing", "pgmdbn"]),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"module {module} belongs to no layer; add it to LAYERS in {__file__}")


def imports_of(module: str) -> set[str]:
    """The pgmdbn modules ``module`` imports anywhere in its body (resolved, relative or absolute)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "pgmdbn")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.split(".")[0] != "pgmdbn":
                continue
            submodules = {f"{target}.{a.name}" for a in node.names} & MODULES.keys()
            found.update(submodules or {target})
    found.discard(module)
    return {m for m in found if m in MODULES}


GRAPH = nx.DiGraph([(m, t) for m in MODULES for t in imports_of(m)])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module):
    upward = [t for t in imports_of(module) if layer_of(t) > layer_of(module)]
    assert not upward, (f"{module} ({LAYERS[layer_of(module)][0]}) imports "
                        + ", ".join(f"{t} ({LAYERS[layer_of(t)][0]})" for t in upward))


def test_no_import_circle():
    cycles = list(nx.simple_cycles(GRAPH))
    assert not cycles, "import circles: " + "; ".join(" → ".join(c + [c[0]]) for c in cycles[:5])


def test_the_checker_sees_function_level_imports():
    assert "pgmdbn.demo" in imports_of("pgmdbn.cli.demo")  # imported inside a function
    assert layer_of("pgmdbn.engines.gibbs") < layer_of("pgmdbn.estimators.exact") < layer_of("pgmdbn.cli")
