"""mkdocs hook: the pages that live outside docs/ (the README as the home page, the tutorials'
scripts, the benchmarks' README) and one API-reference page per module, generated at build
time so that nothing is copied by hand. Links between repository files are rewritten to the
site's pages; links to other repository files become plain path names."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
DOCS = {"architecture.md", "cli.md", "plugins.md", "distributed.md"}

# the API reference: page title -> module, or the modules shown one after another on the page
REFERENCE = {
    "pgmdbn": "pgmdbn", "graph": "pgmdbn.graph", "builders": "pgmdbn.builders", "units": "pgmdbn.units.base",
    "factors": "pgmdbn.factors.base", "io": "pgmdbn.io", "results": "pgmdbn.results", "errors": "pgmdbn.errors",
    "hooks": "pgmdbn.hooks", "protocols": "pgmdbn.protocols", "inference": "pgmdbn.inference",
    "training": "pgmdbn.training",
    "estimators": ["pgmdbn.estimators.exact", "pgmdbn.estimators.ais", "pgmdbn.estimators.directed",
                   "pgmdbn.estimators.meanfield_bound", "pgmdbn.estimators.pseudolikelihood"],
    "finetune.classifier":
    "pgmdbn.finetune.classifier", "finetune.autoencoder": "pgmdbn.finetune.autoencoder",
    "finetune.blocks": "pgmdbn.finetune.blocks",
    "apps.retrieval": "pgmdbn.apps.retrieval", "apps.gp": "pgmdbn.apps.gp", "data": "pgmdbn.data",
    "plot": "pgmdbn.plot", "graphplot": "pgmdbn.graphplot", "sklearn": "pgmdbn.sklearn", "pyro": "pgmdbn.pyro",
    "testing": "pgmdbn.testing",
}
LINK = re.compile(r"\[([^\]]*)\]\(([^)#\s]+)(#[^)]*)?\)")


def tutorials() -> list[Path]:
    return sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def _target(path: str, here: str) -> str | None:
    """The site page for a repository path linked from the page ``here`` (None: not on the site)."""
    if re.match(r"[a-z]+://", path):
        return path
    up = "../" * here.count("/")
    if path.startswith("docs/") and path[5:] in DOCS:
        return up + path[5:]
    if path.startswith("tutorials/") and path.endswith(".py"):
        return up + f"tutorials/{Path(path).stem}.md"
    if path == "benchmarks/README.md":
        return up + "benchmarks.md"
    return None


def rewrite(markdown: str, here: str) -> str:
    def link(m):
        target = _target(m.group(2), here)
        if target is None:
            return f"{m.group(1)} (`{m.group(2)}` in the repository)" if m.group(1) != m.group(2) else f"`{m.group(2)}`"
        return f"[{m.group(1)}]({target}{m.group(3) or ''})"

    return LINK.sub(link, markdown)


def tutorial_page(path: Path) -> str:
    source = path.read_text()
    doc = ast.get_docstring(ast.parse(source)) or path.stem
    title, _, rest = doc.partition("\n")
    return f"# {title}\n\n{rest.strip()}\n\n## The script\n\n`{path.relative_to(ROOT)}`:\n\n```python\n{source}```\n"


def pages() -> dict[str, str]:
    out = {"index.md": rewrite((ROOT / "README.md").read_text(), "index.md"),
           "benchmarks.md": rewrite((ROOT / "benchmarks" / "README.md").read_text(), "benchmarks.md")}
    for path in tutorials():
        out[f"tutorials/{path.stem}.md"] = tutorial_page(path)
    for title, modules in REFERENCE.items():
        out[f"reference/{title}.md"] = reference_page(title, modules)
    return out


def reference_page(title: str, modules) -> str:
    """The API page of one module (``modules`` a name) or of several, one section each."""
    if isinstance(modules, str):
        return f"# `{modules}`\n\n::: {modules}\n"
    sections = "".join(f"## `{m}`\n\n::: {m}\n    options:\n      heading_level: 3\n\n" for m in modules)
    return f"# {title}\n\n{sections}"


def on_files(files, config):
    for uri, content in pages().items():
        files.append(File.generated(config, uri, content=content))
    return files


def on_config(config):
    nav = config["nav"]
    nav.append({"Tutorials": [f"tutorials/{p.stem}.md" for p in tutorials()]})
    nav.append({"API reference": [{title: f"reference/{title}.md"} for title in REFERENCE]})
    return config
