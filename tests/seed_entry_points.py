"""Every seeded public entry point of pgmdbn at tiny sizes, run in this process after consuming
torch's global generator ``sys.argv[1]`` times; prints one JSON object

    {"digests": {entry point: sha256 of its outputs}, "global_generator_used": [names],
     "errors": {name: message}}

``tests/test_seeds.py`` runs it in two fresh processes, each consuming the global generator a
different amount first, and requires the same digests and no use of the global generator.
Outputs digested: every tensor, number and string a call returns or leaves in the model's
parameters, in a fixed order (run times left out).
"""
from __future__ import annotations

import hashlib
import json
import math
import sys

import numpy as np
import torch

import pgmdbn
from pgmdbn.protocols import handlers

MODELS = {  # one tiny model per structure, built from a seed (the builders' seed path is covered too)
    "rbm": lambda: pgmdbn.rbm(6, 4, init_scale=0.3, seed=1),
    "dbm": lambda: pgmdbn.dbm([6, 4, 3], init_scale=0.3, seed=1),
    "dbn": lambda: pgmdbn.dbn([6, 4, 3], init_scale=0.3, seed=1),
    "sbn": lambda: pgmdbn.sbn([6, 4, 3], init_scale=0.3, seed=1),
}


def data(n: int = 40, columns: int = 6) -> torch.Tensor:
    """Binary rows from a seeded generator of their own."""
    return (torch.rand(n, columns, generator=torch.Generator().manual_seed(11)) < 0.4).float()


def feed(h, value) -> None:
    """Hash ``value`` into ``h`` in a fixed order, whatever its nesting."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().contiguous()
        h.update(f"T{value.dtype}{tuple(value.shape)}".encode())
        h.update(value.numpy().tobytes() if value.dtype != torch.bfloat16 else value.float().numpy().tobytes())
    elif isinstance(value, np.ndarray):
        h.update(f"A{value.dtype}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, torch.nn.Module):
        feed(h, value.state_dict())
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            if "second" not in str(key) and "time" not in str(key):
                h.update(f"K{key}".encode())
                feed(h, value[key])
    elif isinstance(value, (list, tuple)):
        h.update(f"L{len(value)}".encode())
        for item in value:
            feed(h, item)
    elif isinstance(value, float):
        h.update(b"F" + (b"nan" if math.isnan(value) else float(value).hex().encode()))
    elif isinstance(value, (bool, int, str, type(None))):
        h.update(f"{type(value).__name__}:{value}".encode())
    elif hasattr(value, "__dict__"):  # results: LogLikelihood, TrainResult
        feed(h, {k: v for k, v in vars(value).items()})
    else:
        raise TypeError(f"cannot digest {type(value).__name__}")


def digest(*values) -> str:
    h = hashlib.sha256()
    feed(h, list(values))
    return h.hexdigest()


def model_for(structures) -> tuple[str, pgmdbn.Model]:
    """The tiny model of the first structure an engine declares."""
    return structures[0], MODELS[structures[0]]()


# --- the entry points -------------------------------------------------------------------------

def samplers() -> dict:
    out = {}
    for name in handlers("engines", role="sampler"):
        for structure in pgmdbn.registry.get("engines", name).structures:
            model = MODELS[structure]()
            out[f"sample[{name}, {structure}]"] = lambda m=model, n=name: (
                pgmdbn.sample(m, 7, steps=5, method=n, seed=3),
                pgmdbn.sample(m, 7, steps=5, method=n, seed=3, conditional_means=(m.visible,)))
    rbm = MODELS["rbm"]()
    out["sample[gibbs, rbm, clamp and masks]"] = lambda: pgmdbn.sample(
        rbm, 5, steps=4, method="gibbs", seed=4, clamp={"v": data(5)}, masks={"v": torch.arange(6) < 3})
    return out


def trainers() -> dict:
    out = {}
    for name in handlers("engines", role="trainer"):
        structure, model = model_for(pgmdbn.registry.get("engines", name).structures)
        x = {"v": data()}
        out[f"fit[{name}, {structure}]"] = lambda m=model, n=name, x=x: (
            pgmdbn.fit(m, x, method=n, k=2, epochs=2, batch_size=10, lr=0.05, seed=5, progress=False,
                       monitor_size=10).history, m)
    labelled = pgmdbn.dbn([6, 4, 5], labels=2, init_scale=0.3, seed=1)
    y = torch.nn.functional.one_hot(torch.arange(40) % 2, 2).float()
    out["fit[updown, dbn with labels]"] = lambda: (pgmdbn.fit(labelled, {"v": data(), "y": y}, method="updown", k=2,
                                                              epochs=2, batch_size=10, lr=0.05, seed=5,
                                                              progress=False, monitor_size=10).history, labelled)
    streamed = MODELS["rbm"]()
    rows = torch.utils.data.TensorDataset(data())
    out["fit[pcd, rbm, from a Dataset]"] = lambda: (pgmdbn.fit(streamed, rows, method="pcd", epochs=2, batch_size=10,
                                                               lr=0.05, seed=5, progress=False,
                                                               monitor_size=10).history, streamed)
    return out


def pretraining() -> dict:
    out = {}
    for structure in ("dbn", "dbm"):
        model = MODELS[structure]()
        out[f"pretrain[{structure}, propagate=sample]"] = lambda m=model: (
            [r.history for r in pgmdbn.pretrain(m, data(), epochs=2, batch_size=10, lr=0.05, seed=6,
                                                propagate="sample", progress=False, monitor_size=10)], m)
    return out


def estimators() -> dict:
    options = {"exact": {}, "ais": {"n_chains": 16, "betas": torch.linspace(0, 1, 50)},
               "raise": {"n_chains": 2, "betas": torch.linspace(0, 1, 30)}, "bound": {"k": 4},
               "iwae": {"k": 4}, "pl": {"stochastic": True}}
    out = {}
    for name in pgmdbn.registry.names("estimators"):
        given = dict(options.get(name, {}))
        for structure in pgmdbn.registry.get("estimators", name).structures:
            model = MODELS[structure]()
            extra = {} if name == "exact" else {"seed": 7}
            if name == "bound" and structure == "dbm":
                extra.update(log_z="ais", n_chains=16, betas=torch.linspace(0, 1, 50))
            out[f"log_likelihood[{name}, {structure}]"] = lambda m=model, n=name, g=given, e=extra: \
                pgmdbn.log_likelihood(m, data(12), method=n, progress=False, **g, **e)
    return out


def convolutional() -> dict:
    def run():
        model = pgmdbn.cdbn((1, 8, 8), filters=[2], kernels=[3], pools=[2], init_scale=0.1, seed=2)
        x = (torch.rand(6, 64, generator=torch.Generator().manual_seed(12)) < 0.3).float()
        results = pgmdbn.pretrain(model, x, epochs=1, batch_size=3, lr=0.05, seed=8, progress=False,
                                  monitor_size=3)
        return [r.history for r in results], model, pgmdbn.sample(model, 3, steps=2, seed=9)
    return {"cdbn, pretrain, sample": run}


def fine_tuning() -> dict:
    from pgmdbn.finetune import random_like, to_classifier, train_classifier
    from pgmdbn.finetune.autoencoder import add_code_noise, fine_tune, randomized, stack, unroll

    def classifier():
        net = to_classifier(MODELS["dbn"](), 2, seed=10)
        result = train_classifier(net, data(), torch.arange(40) % 2, epochs=2, batch_size=10, seed=10,
                                  dropout=0.3, input_dropout=0.2, progress=False)
        return result.history, net, random_like(net, seed=10)

    def autoencoder():
        ae = unroll(stack([6, 4, 3], code="bernoulli", init_scale=0.3, seed=10))
        add_code_noise(ae, std=2.0, seed=10)
        result = fine_tune(ae, data(), epochs=2, batch_size=10, seed=10, progress=False)
        return result.history, ae, randomized(ae, seed=10)
    return {"finetune.train_classifier (dropout)": classifier, "finetune.fine_tune (code noise)": autoencoder}


def scikit_learn() -> dict:
    from pgmdbn.sklearn import DBNClassifier, RBMTransformer

    x = data().numpy()
    y = (np.arange(40) % 2)

    def transformer():
        est = RBMTransformer(n_components=5, n_iter=2, batch_size=10, random_state=0).fit(x)
        return est.transform(x), est.score_samples(x)

    def classifier():
        est = DBNClassifier(hidden_layer_sizes=(5,), pretrain_epochs=1, epochs=2, batch_size=10,
                            random_state=0).fit(x, y)
        return est.predict_proba(x)
    return {"sklearn.RBMTransformer": transformer, "sklearn.DBNClassifier": classifier}


def others() -> dict:
    from pgmdbn.data import sample_bars_and_stripes
    return {"data.sample_bars_and_stripes": lambda: sample_bars_and_stripes(20, side=3, seed=13),
            "Model.init_weights": lambda: pgmdbn.rbm(5, 3, seed=0).init_weights(0.1, seed=14)}


ENTRY_POINTS = [samplers, trainers, pretraining, estimators, convolutional, fine_tuning, scikit_learn, others]


def main(consume: int) -> dict:
    torch.set_num_threads(1)
    torch.rand(consume)  # this process's global generator now differs from the other's
    report = {"digests": {}, "global_generator_used": [], "errors": {}}
    for group in ENTRY_POINTS:
        for name, call in group().items():
            before = torch.default_generator.get_state()
            try:
                report["digests"][name] = digest(call())
            except Exception as error:  # reported, so that one failure does not hide the others
                report["errors"][name] = f"{type(error).__name__}: {error}"
            if not torch.equal(before, torch.default_generator.get_state()):
                report["global_generator_used"].append(name)
    return report


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
