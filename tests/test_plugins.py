"""Plugins: a unit type from outside the package trains and evaluates an RBM with no core change."""
import textwrap
from pathlib import Path

import pytest
import torch

import pgmdbn
from pgmdbn.data.toy import sample_bars_and_stripes
from pgmdbn.errors import PluginError
from pgmdbn.hooks import Registry

SPIN_DIR = Path(__file__).resolve().parents[1] / "plugins" / "pgmdbn-spin"


@pytest.fixture
def spin_plugin(monkeypatch):
    monkeypatch.syspath_prepend(str(SPIN_DIR))
    import pgmdbn_spin

    pgmdbn.register_plugin(pgmdbn_spin, name="pgmdbn_spin")
    yield pgmdbn_spin
    pgmdbn.unregister_plugin(pgmdbn_spin)


def test_spin_units_train_and_evaluate(spin_plugin):
    data = sample_bars_and_stripes(500, side=3, seed=0) * 2 - 1
    model = pgmdbn.rbm(9, 8, visible="spin", seed=0)
    assert type(model.layer("v")) is spin_plugin.Spin
    before = pgmdbn.log_likelihood(model, data).mean
    pgmdbn.fit(model, data, method="cd", k=3, epochs=30, batch_size=20, lr=0.1, momentum=0.9, seed=0, progress=False)
    after = pgmdbn.log_likelihood(model, data).mean
    assert after > before + 1.0, (before, after)
    assert pgmdbn.registry.origin("units", "spin") == "pgmdbn_spin"
    with pytest.raises(pgmdbn.DataError, match=r"\{-1, \+1\}.*2x - 1"):
        pgmdbn.log_likelihood(model, (data + 1) / 2)


def test_spin_exact_matches_brute_force(spin_plugin):
    model = pgmdbn.rbm(4, 3, visible="spin", hidden="spin")
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(2)) * 0.7)
    v, h = model.layer("v").states().double(), model.layer("h").states().double()
    e = -model.energy({"v": v.repeat_interleave(len(h), 0), "h": h.repeat(len(v), 1)})
    assert pgmdbn.log_partition(model).log_z == pytest.approx(torch.logsumexp(e, 0).item(), abs=1e-9)


def test_unknown_unit_type_names_registered_ones():
    with pytest.raises(PluginError, match="unknown unit 'ising'.*bernoulli.*gaussian"):
        pgmdbn.rbm(3, 3, visible="ising")


def test_name_clash_is_refused():
    class Clash:
        @pgmdbn.hookimpl
        def pgmdbn_register_units(self):
            return {"bernoulli": object}

    with pytest.raises(PluginError, match="'bernoulli' is registered by both"):
        pgmdbn.register_plugin(Clash(), name="clash")
    assert pgmdbn.registry.get("units", "bernoulli") is pgmdbn.units.Bernoulli


def test_entry_point_discovery(tmp_path, monkeypatch):
    """A plugin installed as a distribution with a `pgmdbn` entry point is found without registering."""
    dist = tmp_path / "pgmdbn_spin-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pgmdbn-spin\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""\
        [pgmdbn]
        spin = pgmdbn_spin
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(SPIN_DIR))
    registry = Registry()
    assert registry.names("units") == ["spin"]  # a bare registry holds only what entry points bring
    registry.add_builtins(pgmdbn.builtins)
    row = next(r for r in registry.describe() if r["name"] == "spin")
    assert row["source"] == "pgmdbn-spin 0.1.0"
    assert {"bernoulli", "gaussian", "softmax", "replicated_softmax"} <= set(registry.names("units"))
    assert {"cd", "pcd", "gibbs"} <= set(registry.names("engines"))
    assert "exact" in registry.names("estimators")


def test_epoch_end_hook_sees_metrics():
    seen = []

    class Monitor:
        @pgmdbn.hookimpl
        def pgmdbn_on_epoch_end(self, model, epoch, metrics):
            seen.append((epoch, metrics["recon_error"]))

    monitor = Monitor()
    pgmdbn.register_plugin(monitor, name="monitor")
    try:
        pgmdbn.fit(pgmdbn.rbm(9, 4), sample_bars_and_stripes(50, 3), epochs=3, batch_size=10, progress=False)
    finally:
        pgmdbn.unregister_plugin(monitor)
    assert [e for e, _ in seen] == [1, 2, 3]
    assert all(r >= 0 for _, r in seen)
