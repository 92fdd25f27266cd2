"""The docs site: mkdocs.yml with the README, the architecture, plugin and CLI pages, the
tutorials and an API reference generated from the docstrings, built with --strict."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings_handlers.python")

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    home = (site / "index.html").read_text()
    assert "pgmdbn" in home and 'href="architecture/"' in home and 'href="tutorials/01_rbm_quickstart/"' in home
    for page in ("architecture", "plugins", "cli", "benchmarks"):
        assert (site / page / "index.html").is_file(), page
    tutorials = sorted(p.stem for p in (ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
    assert tutorials and all((site / "tutorials" / t / "index.html").is_file() for t in tutorials)
    reference = (site / "reference" / "sklearn" / "index.html").read_text()
    assert "RBMTransformer" in reference and "from_sklearn" in reference and "score_samples" in reference
    fit = (site / "reference" / "training" / "index.html").read_text()
    assert "DataLoader" in fit  # a docstring's text, rendered
    assert 'href="distributed/"' in home  # docs/distributed.md, linked from the home page
    # the estimators' page shows every estimator and its options; log_likelihood lists them by
    # method; the result type documents each field
    estimators = (site / "reference" / "estimators" / "index.html").read_text()
    for name in ("ais_log_z", "raise_", "pseudo_likelihood", "dbm_bound", "iwae", "compare_raise", "max_states"):
        assert name in estimators, name
    api = (site / "reference" / "pgmdbn" / "index.html").read_text()
    for option in ("base_data", "betas", "n_chains", "max_states", "compare_raise", "min_ess", "stochastic"):
        assert option in api, option
    results = (site / "reference" / "results" / "index.html").read_text()
    for word in ("per_example", "log_z", "spread", "warnings", "effective sample size"):
        assert word in results, word
