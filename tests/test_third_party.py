"""A third-party plugin written from docs/plugins.md alone passes every check once installed.

The package is assembled from the page itself (its binomial unit type, its Metropolis sampler,
its ``pyproject.toml`` and module-level hooks), so the page and this test cannot drift apart.
It is installed with ``pip install --target`` into a temporary folder (offline: no index, no
build isolation) and exercised in fresh interpreters that see that folder on ``PYTHONPATH``:
``describe()`` as the first registry call names the package, exact log-likelihoods equal brute
force, the plugin sampler draws the exact distribution, files keep the unit options and load,
greedy pretraining keeps them, the conformance kit passes the type; and an interpreter without
the package is told what to ``pip install`` when it loads a file that needs it.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
#: the unit options every check uses: not the type's default (3), so a dropped option shows
TRIALS = 2


def fenced(text: str, language: str) -> list[str]:
    """The bodies of the fenced blocks of a markdown text whose info string is ``language`` ("" for
    a bare fence), in order; fences are paired line by line, so a closing fence never opens one."""
    blocks, body, info = [], None, None
    for line in text.splitlines(keepends=True):
        fence = re.match(r"^```(\S*)\s*$", line)
        if body is None and fence:
            body, info = [], fence.group(1)
        elif body is not None and fence and not fence.group(1):
            if info == language:
                blocks.append("".join(body))
            body = None
        elif body is not None:
            body.append(line)
    return blocks


def until(block: str, marker: str) -> str:
    """``block`` up to the line that starts with ``marker`` (the page's own registration code)."""
    assert marker in block, f"docs/plugins.md: the block no longer holds {marker!r}"
    return block[:block.index(marker)]


def package_from_docs(folder: Path) -> tuple[Path, dict]:
    """Write the plugin package docs/plugins.md describes into ``folder``; returns its path and
    (distribution, version, entry point name, module) read from its ``pyproject.toml``."""
    text = DOC.read_text(encoding="utf-8")
    python = fenced(text, "python")
    unit_block = next(b for b in python if "class Binomial(Units)" in b)
    sampler_block = next(b for b in python if "class IndependenceMetropolis" in b)
    pyproject = next(b for b in fenced(text, "toml") if "[project.entry-points.pgmdbn]" in b)
    hooks = next(b for b in fenced(text, "") if "def pgmdbn_register_units" in b and "@pgmdbn.hookimpl" in b)
    meta = toml_tables(pyproject)
    assert "build-backend" in meta.get("build-system", {}), "the documented pyproject.toml needs a [build-system]"
    (entry, module), = meta["project.entry-points.pgmdbn"].items()
    package = folder / meta["project"]["name"]
    package.mkdir()
    (package / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    source = "\n\n".join([until(unit_block, "class BinomialPlugin"), until(sampler_block, "class MetropolisPlugin"),
                          hooks])
    (package / f"{module}.py").write_text(source, encoding="utf-8")
    return package, {"dist": meta["project"]["name"], "version": meta["project"]["version"], "entry": entry,
                     "module": module}


def toml_tables(text: str) -> dict[str, dict[str, str]]:
    """{table: {key: string value}} of a flat TOML text's ``key = "value"`` lines (what the
    documented pyproject.toml holds; tomllib is not in Python 3.10, which pgmdbn supports)."""
    tables, table = {}, ""
    for line in text.splitlines():
        header = re.match(r"^\[([\w.-]+)\]\s*$", line)
        pair = re.match(r'^([\w.-]+)\s*=\s*"([^"]*)"\s*$', line)
        if header:
            table = header.group(1)
            tables.setdefault(table, {})
        elif pair:
            tables.setdefault(table, {})[pair.group(1)] = pair.group(2)
    return tables


def run_python(code: str, *paths: Path, timeout: int = 180) -> subprocess.CompletedProcess:
    """``code`` in a new interpreter with ``paths`` (then pgmdbn's checkout) on PYTHONPATH."""
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([*(str(p) for p in paths), str(ROOT)]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=timeout)


CHECKS = """
    import json
    import torch
    import pgmdbn
    from pgmdbn.training.greedy import stage_rbm

    DIST, VERSION, ENTRY, TRIALS, FILE = {dist!r}, {version!r}, {entry!r}, {trials}, {file!r}

    # 1. describe(), as the first registry call of the process, names the installed package.
    assert not pgmdbn.registry._loaded, "a registry lookup ran before describe()"
    rows = {{r["name"]: r for r in pgmdbn.registry.describe()}}
    for name, kind in (("my_binomial", "units"), ("metropolis", "engines")):
        row = rows[name]
        assert (row["kind"], row["plugin"], row["distribution"], row["version"], row["source"]) == \\
            (kind, ENTRY, DIST, VERSION, DIST + " " + VERSION), row
    Binomial = pgmdbn.registry.get("units", "my_binomial")

    # 2. The exact log-likelihood equals brute force over every joint state, in float64.
    model = pgmdbn.rbm(3, 2, visible={{"type": "my_binomial", "trials": TRIALS}}, seed=0, init_scale=0.7).double()
    assert model.layer("v").trials == TRIALS
    v, h = model.layer("v").states().double(), model.layer("h").states().double()
    assert len(v) == (TRIALS + 1) ** 3
    joint = -model.energy({{"v": v.repeat_interleave(len(h), 0), "h": h.repeat(len(v), 1)}}).reshape(len(v), len(h))
    log_z = torch.logsumexp(joint.reshape(-1), 0)
    log_pv = torch.logsumexp(joint, 1) - log_z
    exact = pgmdbn.log_likelihood(model, v, method="exact")
    assert abs(exact.log_z - log_z.item()) < 1e-9, (exact.log_z, log_z.item())
    gap = (exact.per_example - log_pv).abs().max().item()
    assert gap < 1e-9, gap

    # 3. The plugin sampler draws the exact marginal (total variation over the 27 states; measured
    #    about 0.03 with 4000 chains, expected about 0.5 * sum sqrt(2 p / (pi n)) = 0.035).
    tvs = []
    for seed in (0, 1):
        drawn = pgmdbn.sample(model, 4000, steps=60, method="metropolis", seed=seed)
        assert set(drawn) == {{"v", "h"}}
        hits = (drawn["v"][:, None, :] == v[None]).all(-1)
        assert hits.any(1).all(), "a sample outside the binomial states"
        tvs.append(0.5 * (hits.double().mean(0) - log_pv.exp()).abs().sum().item())
    assert max(tvs) < 0.1, tvs
    given = torch.full((6, 3), 1.0, dtype=torch.float64)
    filled = pgmdbn.sample(model, 6, steps=20, method="metropolis", clamp={{"v": given}},
                           masks={{"v": torch.tensor([True, False, True])}})
    assert (filled["v"][:, [0, 2]] == 1).all()

    # 4. Save and load keep the unit options and name the package; the loaded model is the same.
    pgmdbn.save(model, FILE)
    layer = pgmdbn.io.read_info(FILE)["spec"]["layers"][0]
    assert layer["config"] == {{"trials": TRIALS}} and layer["plugin"] == ENTRY, layer
    assert layer["distribution"] == {{"name": DIST, "version": VERSION}}, layer
    loaded = pgmdbn.load(FILE)
    assert loaded.layer("v").trials == TRIALS
    again = pgmdbn.log_likelihood(loaded, v, method="exact")
    assert (again.per_example - exact.per_example).abs().max().item() < 1e-12

    # 5. Greedy pretraining builds its stages with the unit options and trains.
    dbn = pgmdbn.dbn([3, 3, 2], visible={{"type": "my_binomial", "trials": TRIALS}}, seed=0, init_scale=0.1)
    assert stage_rbm(dbn, ["v"], "h1").layer("v").trials == TRIALS
    before = dbn.factor("h1", "v").weight.detach().clone()
    results = pgmdbn.pretrain(dbn, drawn["v"][:400].float(), epochs=2, batch_size=100, lr=0.05, progress=False)
    assert len(results) == 2 and not torch.equal(dbn.factor("h1", "v").weight, before)
    assert dbn.layer("v").trials == TRIALS

    # 6. The conformance kit passes the type.
    from pgmdbn.testing import check_unit_type
    check_unit_type(Binomial, trials=TRIALS)
    print(json.dumps({{"tv": tvs, "gap": gap}}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The documented package, installed with pip into a temporary folder: (site folder, facts)."""
    folder = tmp_path_factory.mktemp("third_party")
    package, facts = package_from_docs(folder)
    site = folder / "site"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                             "--no-index", "--disable-pip-version-check", "--target", str(site), str(package)],
                            capture_output=True, text=True, timeout=300, cwd=folder)
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"
    assert (site / f"{facts['module']}.py").is_file()
    dist_info = [p.name for p in site.glob("*.dist-info")]
    assert dist_info == [f"{facts['dist'].replace('-', '_')}-{facts['version']}.dist-info"], dist_info
    return site, facts, folder


def test_package_written_from_the_docs_passes_every_check(installed):
    site, facts, folder = installed
    path = folder / "binomial.safetensors"
    result = run_python(CHECKS.format(**facts, trials=TRIALS, file=str(path)), site)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert path.is_file()
    print(result.stdout)  # the measured total variations and the exact-vs-brute-force gap

    # Where the package is not installed, loading the file says what to pip install.
    missing = run_python(f"""
        import pgmdbn
        try:
            pgmdbn.load({str(path)!r})
        except pgmdbn.errors.PluginError as error:
            print(error)
        else:
            raise SystemExit("loaded without the plugin")
    """)
    assert missing.returncode == 0, f"stdout:\n{missing.stdout}\nstderr:\n{missing.stderr}"
    wanted = f"pip install {facts['dist']} (version {facts['version']} wrote this file)"
    assert wanted in missing.stdout, missing.stdout
    assert "'my_binomial'" in missing.stdout and "layer 'v'" in missing.stdout
