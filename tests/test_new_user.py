"""What a new user meets first, walking through the README: the spec it shows trains, the
command's location is stated, --device cuda on a CPU build is one line, a closed pipe is no
error, and the tutorials' output folders are ignored by git."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pgmdbn.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_spec_trains_with_the_readme_command(tmp_path, capsys):
    spec = re.search(r"Save\s+this as `spec.json`.*?```json\n(.*?)```", README, re.S).group(1)
    (tmp_path / "spec.json").write_text(spec)
    assert ".venv/bin/pgmdbn train spec.json --data bars --out bars.safetensors" in README
    out = tmp_path / "bars.safetensors"
    assert main(["train", str(tmp_path / "spec.json"), "--data", "bars", "--out", str(out), "--epochs", "2",
                 "--json"]) == 0
    assert out.is_file() and json.loads(capsys.readouterr().out)["kind"] == "rbm"


def test_readme_says_where_the_command_is_and_how_to_get_a_gpu_build():
    assert ".venv/bin/activate" in README and ".venv/bin/pgmdbn" in README
    gpu = README[README.index("### On a GPU"):README.index("### Threads")]
    # a CUDA build in an environment of its own, never through make test (which installs the CPU build)
    assert "--index-url https://download.pytorch.org/whl/cu" in gpu and "make test" not in gpu
    assert "-e plugins/pgmdbn-units" in gpu and "pgmdbn demo --device cuda" in gpu


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_device_cuda_on_a_cpu_build_is_a_one_line_error(capsys):
    assert main(["demo", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pgmdbn: error: --device 'cuda': CUDA is not available") and "available here: cpu" in err
    assert "\n" not in err and "Traceback" not in err


def test_plugins_json_into_a_closed_pipe_is_not_an_error():
    # `true` exits without reading, so every write meets a closed pipe (as `| head` does once
    # it has its lines); the command must neither print a traceback nor fail
    code = "import sys; from pgmdbn.cli import main; sys.exit(main(['plugins', '--json']))"
    line = f'"{sys.executable}" -c "{code}" | true; echo "status ${{PIPESTATUS[0]}}"'
    done = subprocess.run(["bash", "-c", line], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.stdout.strip() == "status 0", done.stderr
    assert "BrokenPipeError" not in done.stderr and "Traceback" not in done.stderr


def test_tutorial_output_folders_are_ignored_by_git():
    folders = [re.search(r'default=(?:Path\()?"(tutorial-\d\d)"', p.read_text()).group(1)
               for p in sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))]
    assert len(folders) == len(list((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))) >= 6
    done = subprocess.run(["git", "check-ignore", *[f"{f}/curve.png" for f in folders]], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode == 128:
        pytest.skip(f"not a git checkout: {done.stderr.strip()}")
    assert done.stdout.split() == [f"{f}/curve.png" for f in folders]
