"""``pgmdbn plugins``: every registered unit type, factor type, engine and estimator, and where it came from."""
from __future__ import annotations


def add(sub, common) -> None:
    p = sub.add_parser("plugins", parents=[common], help="list registered unit types, factor types, engines and estimators",
                       description="List every registered unit type, factor type, engine and estimator and where "
                                   "it came from.")
    p.set_defaults(run=run)



def run(args):
    """``pgmdbn plugins``: every registered name, its plugin and where that came from."""
    from ..hooks import KINDS, registry

    rows = registry.describe()
    width = max([len(r["name"]) for r in rows] + [4])
    lines = []
    for kind in KINDS:
        lines.append(f"{kind}:")
        lines += [f"  {r['name']:<{width}}  plugin {r['plugin']!r}, {r['source']}" for r in rows if r["kind"] == kind]
    return rows, "\n".join(lines)
