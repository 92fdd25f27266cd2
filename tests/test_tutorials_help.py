"""Every tutorial's and benchmark's ``--help`` is whole: a description that ends a sentence, help
text on every option, and ``--threads`` among them. All scripts are read in one fresh
interpreter, each asked for ``--help`` through its own ``main``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(ROOT.glob("tutorials/[0-9][0-9]_*.py")) + sorted(
    p for p in (ROOT / "benchmarks").glob("*.py") if p.name != "common.py")

# Runs in the child: each script run as __main__ with the arguments "--help", ArgumentParser.parse_args
# recording the parser; prints {script: {"description", "help", "options": {flag: help}}} as JSON.
PROBE = r'''
import argparse, contextlib, io, json, runpy, sys
seen, out = [], {}
original = argparse.ArgumentParser.parse_args
def recording(self, *args, **kwargs):
    seen.append(self)
    return original(self, *args, **kwargs)
argparse.ArgumentParser.parse_args = recording
for path in sys.argv[1:]:
    sys.path.insert(0, str(__import__("pathlib").Path(path).parent))
    seen.clear()
    text = io.StringIO()
    sys.argv = [path, "--help"]
    with contextlib.redirect_stdout(text):
        try:
            runpy.run_path(path, run_name="__main__")
        except SystemExit:
            pass
    sys.path.pop(0)
    if not seen:
        out[path] = {"description": None, "help": text.getvalue(), "options": {}}
        continue
    parser = seen[-1]
    options = {"/".join(a.option_strings): a.help for a in parser._actions if a.option_strings}
    out[path] = {"description": parser.description, "help": text.getvalue(), "options": options}
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def helps() -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", PROBE, *map(str, SCRIPTS)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return {Path(k).relative_to(ROOT).as_posix(): v for k, v in json.loads(done.stdout).items()}


def test_every_script_is_probed(helps):
    assert len(helps) == len(SCRIPTS) >= 6 + 10


@pytest.mark.parametrize("script", [p.relative_to(ROOT).as_posix() for p in SCRIPTS])
def test_help_is_whole(helps, script):
    found = helps[script]
    description = (found["description"] or "").strip()
    assert description, f"{script} --help has no description"
    assert description[-1] in ".)", f"{script} --help's description ends mid-sentence: ...{description[-60:]!r}"
    missing = [flag for flag, text in found["options"].items() if flag != "-h/--help" and not (text or "").strip()]
    assert not missing, f"{script}: options without help: {missing}"
    assert "--threads" in found["options"], f"{script} takes no --threads"
    assert "usage:" in found["help"] and description.split()[0] in found["help"]
