"""Figures a reader can read: pgmdbn.plot's checks (a title, labelled axes, markers on curves, whole
epochs, tiles at least MIN_TILE_WIDTH pixels wide), and the figures that the demo, the CLI, the
tutorials and the benchmarks' drawing functions write, read back from the matplotlib Figures."""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import pgmdbn
import pgmdbn.plot as plot
from pgmdbn.plot import MIN_TILE_WIDTH, figure, figure_problems, line_plot_png, save_grid

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def written(monkeypatch):
    """{file name: Figure} of every figure pgmdbn.plot writes during the test, each refused (by
    PGMDBN_CHECK_FIGURES) if it has a problem a reader would see."""
    figures = {}
    original = plot.save_figure

    def recording(fig, path, title=None):
        figures[Path(path).name] = fig
        return original(fig, path, title)

    monkeypatch.setenv(plot.CHECK_ENV, "1")
    monkeypatch.setattr(plot, "save_figure", recording)
    return figures


def width_px(fig) -> int:
    return round(fig.get_size_inches()[0] * fig.dpi)


def readable(fig) -> None:
    assert figure_problems(fig) == [], figure_problems(fig)
    assert plot.figure_title(fig).strip()


def epoch_axis(fig, first: int):
    """The curves' x data are the whole epochs first..E, and every visible tick is a whole epoch."""
    ax = fig.axes[0]
    assert "epoch" in ax.get_xlabel()
    curves = [line for line in ax.lines if not plot._is_reference(line)]  # not the dashed reference lines
    xs = sorted({float(x) for line in curves for x in line.get_xdata()})
    assert xs == list(range(first, first + len(xs))), xs
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert ticks and all(float(t).is_integer() for t in ticks) and min(ticks) >= first - 0.5, ticks
    assert all(line.get_marker() not in (None, "None", "") for line in curves)


# --- the checks themselves ---------------------------------------------------------------------

def test_figure_problems_names_each_problem():
    fig = figure(300, 200)
    ax = fig.add_subplot()
    ax.plot([0.5, 1.5, 2.5], [1, 2, 3])
    ax.set_xlabel("epoch")
    ax.imshow(np.zeros((2, 2)))
    problems = " | ".join(figure_problems(fig))
    # an axes holding an image is a tile axes: its lines are not judged as a chart's
    assert "no title" in problems and "under 400" in problems and "markers" not in problems
    chart = figure(640, 400)
    ax = chart.add_subplot()
    ax.plot([0.5, 1.5, 2.5], [1, 2, 3])
    ax.set_xlabel("epoch")
    problems = " | ".join(figure_problems(chart))
    for words in ("no title", "unlabelled axis", "no markers", "whole numbers"):
        assert words in problems, problems


def test_save_figure_refuses_an_unreadable_figure_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv(plot.CHECK_ENV, "1")
    with pytest.raises(ValueError, match="no title.*PGMDBN_CHECK_FIGURES"):
        line_plot_png(tmp_path / "bad.png", {"a": [1, 2]}, xlabel="epoch", ylabel="nats")
    assert not (tmp_path / "bad.png").exists()
    monkeypatch.setenv(plot.CHECK_ENV, "0")
    line_plot_png(tmp_path / "bad.png", {"a": [1, 2]})  # unchecked: written as asked
    assert (tmp_path / "bad.png").is_file()


def test_line_plot_epochs_are_whole_and_curves_marked(tmp_path, written):
    fig = line_plot_png(tmp_path / "c.png", {"train": [3.0, 2.0, 1.5, 1.2, 1.1, 1.0, 0.9]}, x=range(1, 8),
                        title="loss", xlabel="epoch", ylabel="nats", reference={"floor": 0.5})
    readable(fig)
    epoch_axis(fig, first=1)
    assert written == {"c.png": fig}


def test_small_tiles_are_scaled_up_and_titled(tmp_path, written):
    fig = save_grid(tmp_path / "t.png", torch.rand(6, 3, 3), title="six 3x3 tiles")
    readable(fig)
    assert width_px(fig) >= MIN_TILE_WIDTH and fig.axes[0].images


# --- what the demo, the CLI, the tutorials and the benchmarks write ------------------------------

def test_demo_figures(tmp_path, written):
    from pgmdbn.demo import run_demo

    report = run_demo("bars", hidden=6, epochs=3, out=tmp_path, progress=False, threads=1)
    assert set(written) == {"samples.png", "filters.png", "curve.png"}
    for fig in written.values():
        readable(fig)
    epoch_axis(written["curve.png"], first=0)  # epoch 0: the untrained model, then 1, 2, 3
    assert report["curve"]["epoch"] == [0, 1, 2, 3]
    for name in ("samples.png", "filters.png"):
        assert width_px(written[name]) >= MIN_TILE_WIDTH


def test_cli_sample_and_graph_figures(tmp_path, written):
    from pgmdbn.cli import main

    model = pgmdbn.rbm(16, 4, seed=0, init_scale=0.1)
    pgmdbn.save(model, tmp_path / "m.safetensors")
    assert main(["sample", str(tmp_path / "m.safetensors"), "-n", "9", "--steps", "5", "--out",
                 str(tmp_path / "s.png")]) == 0
    assert main(["graph", str(tmp_path / "m.safetensors"), "--out", str(tmp_path / "g.png")]) == 0
    readable(written["s.png"])
    assert width_px(written["s.png"]) >= MIN_TILE_WIDTH
    assert "rbm" in plot.figure_title(written["g.png"])


def run_script(path: Path, *args: str):
    """``main(args)`` of a tutorial or benchmark script, in this process."""
    sys.path.insert(0, str(path.parent))
    try:
        return runpy.run_path(str(path), run_name="figures")["main"](list(args))
    finally:
        sys.path.remove(str(path.parent))


def test_tutorial_01_figures(tmp_path, written):
    threads = torch.get_num_threads()
    try:
        run_script(ROOT / "tutorials" / "01_rbm_quickstart.py", "--small", "--epochs", "3", "--out", str(tmp_path))
    finally:
        torch.set_num_threads(threads)
    assert set(written) == {"samples.png", "filters.png", "curve.png"}
    for fig in written.values():
        readable(fig)
    epoch_axis(written["curve.png"], first=0)  # the untrained model at 0, then epochs 1..3
    assert all(width_px(written[n]) >= MIN_TILE_WIDTH for n in ("samples.png", "filters.png"))


def test_tutorial_06_figures(tmp_path, written):
    threads = torch.get_num_threads()
    try:
        run_script(ROOT / "tutorials" / "06_crbm.py", "--small", "--epochs", "1", "--out", str(tmp_path))
    finally:
        torch.set_num_threads(threads)
    assert set(written) == {"filters.png", "samples.png"}
    for fig in written.values():
        readable(fig)
        assert width_px(fig) >= MIN_TILE_WIDTH  # 3x3 filters and 6x6 samples, scaled up


def test_benchmark_drawing_functions(tmp_path, written):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        cdbn = runpy.run_path(str(ROOT / "benchmarks" / "cdbn.py"), run_name="figures")
        autoencoder = runpy.run_path(str(ROOT / "benchmarks" / "autoencoder.py"), run_name="figures")
        gp = runpy.run_path(str(ROOT / "benchmarks" / "gp_orientation.py"), run_name="figures")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    g = torch.Generator().manual_seed(0)
    cdbn["save_filters"](tmp_path / "filters.png", torch.randn(3, 5, 5, generator=g), "three filters")
    cdbn["save_speed"](tmp_path / "speed.png", [{"filters": 8, "kernel": 5, "fraction": 0.5, "epoch_s": 2.0,
                                                 "bare_s": 1.0, "images": 100, "device": "cpu"}])
    images = torch.rand(20, 64, generator=g)
    data = {"tests": {"test": images}, "pixels": lambda r: r, "side": 8}
    autoencoder["save_png"](tmp_path / "recon.png", data, {"autoencoder": images, "pca": images})
    faces = {"ty": torch.linspace(-90, 90, 12)}
    pictures = {"pixel_pred": torch.zeros(12), "dbn_pred": torch.zeros(12), "filters": torch.rand(6, 16, generator=g),
                "tuned_filters": torch.rand(6, 16, generator=g)}
    gp["save_pngs"](tmp_path, faces, pictures, side=4)
    assert set(written) == {"filters.png", "speed.png", "recon.png", "predictions.png"}
    for name, fig in written.items():
        readable(fig)
        if any(ax.images for ax in fig.axes):
            assert width_px(fig) >= MIN_TILE_WIDTH, name
