"""``pgmdbn plugins``: every registered unit type, factor type, engine and estimator, with its kind,
its role (an engine's: trainer or sampler) and the package that provides it."""
from __future__ import annotations

FLAGS: dict[str, str] = {}


def add(sub, common) -> None:
    p = sub.add_parser("plugins", parents=[common],
                       help="list registered unit types, factor types, engines and estimators",
                       description="List every registered name (unit types, factor types, engines, estimators) "
                                   "with its kind, an engine's role (trainer or sampler: what train --method and "
                                   "sample --method take) and the package that provides it: pgmdbn itself, an "
                                   "installed distribution with its version, or a plugin registered at run time. "
                                   "Plugins that failed to load are listed last with the reason.")
    p.set_defaults(run=run, flags=FLAGS)


def run(args):
    """``pgmdbn plugins``: registry.describe()'s rows (plus each engine's role) and a table of them."""
    from ..hooks import KINDS, registry

    rows = registry.describe()
    for row in rows:
        if row["kind"] == "engines":
            row["role"] = getattr(registry.get("engines", row["name"]), "kind", None)
    listed = sorted((r for r in rows if r["kind"] in KINDS), key=lambda r: (KINDS.index(r["kind"]), r["name"]))
    table = [("KIND", "NAME", "ROLE", "PACKAGE")] + [
        (r["kind"], r["name"], r.get("role") or "-", package(r)) for r in listed]
    widths = [max(len(line[i]) for line in table) for i in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)) + "  " + line[3] for line in table]
    lines += [f"failed: plugin {r['plugin']!r} {r['source']}" for r in rows if r["kind"] == "failed"]
    return rows, "\n".join(lines)


def package(row: dict) -> str:
    """Where a registered name comes from, in words: "pgmdbn 0.1.0 (built-in)", "pgmdbn-units 0.2
    (plugin 'units')" or "registered at run time (plugin 'mine')"."""
    if row["distribution"] is None:
        return f"registered at run time (plugin {row['plugin']!r})"
    version = f" {row['version']}" if row["version"] else ""
    where = "built-in" if row["plugin"] == "pgmdbn" else f"plugin {row['plugin']!r}"
    return f"{row['distribution']}{version} ({where})"
