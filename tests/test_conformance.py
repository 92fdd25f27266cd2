"""The conformance kit (pgmdbn.testing): it passes every registered built-in unit type, factor
type, sampler, trainer and estimator, and it fails, naming the property and the numbers, on
deliberately wrong copies of the Bernoulli type (and of an engine and an estimator).

What a type needs to be built comes from the tables below, never from the kit."""
import math

import pytest
import torch
from torch.distributions import constraints

import pgmdbn
from pgmdbn import testing
from pgmdbn.engines.contrastive import CD
from pgmdbn.engines.gibbs import BlockGibbs
from pgmdbn.factors import Dense
from pgmdbn.estimators.exact import exact
from pgmdbn.protocols import supports
from pgmdbn.results import LogLikelihood
from pgmdbn.units import Bernoulli, Gaussian, Units


def builtin(kind: str) -> list[str]:
    """The names pgmdbn registers itself (installed plugins run the kit in their own tests)."""
    return [n for n in pgmdbn.registry.names(kind) if pgmdbn.registry.origin(kind, n) == "pgmdbn"]


def engines(role: str) -> list[str]:
    return [n for n in builtin("engines") if getattr(pgmdbn.registry.get("engines", n), "kind", None) == role]


# what each built-in needs to be built: (keyword arguments of the kit, id)
UNIT_OPTIONS = {
    "gaussian": [{}, {"learn_sigma": True}],
    "replicated_softmax": [{"length": 3}],
    "pooled_bernoulli": [{"pool": 1, "shape": (3, 1, 1)}],
}
FACTOR_OPTIONS = {"conv2d": {"filters": 2, "kernel": 2, "shapes": ((1, 2, 3), (2, 1, 2))}}
ESTIMATOR_OPTIONS = {"ais": {"n_chains": 100, "betas": torch.linspace(0, 1, 500, dtype=torch.float64)},
                     "raise": {"n_chains": 10, "betas": torch.linspace(0, 1, 500, dtype=torch.float64)},
                     "iwae": {"k": 100}, "bound": {"k": 20}}

UNIT_CASES = [pytest.param(name, options, id=f"{name}-{i}") for name in builtin("units")
              for i, options in enumerate(UNIT_OPTIONS.get(name, [{}]))]


def test_every_kind_of_builtin_is_covered():
    assert {"bernoulli", "gaussian", "softmax", "replicated_softmax", "pooled_bernoulli"} <= set(builtin("units"))
    assert {"dense", "centered", "conv2d"} <= set(builtin("factors"))
    assert {"gibbs", "ancestral"} <= set(engines("sampler"))
    assert {"cd", "pcd", "dbm", "updown", "wakesleep", "rws"} <= set(engines("trainer"))
    assert {"exact", "ais", "raise", "bound", "iwae", "pl"} <= set(builtin("estimators"))


@pytest.mark.parametrize("name, options", UNIT_CASES)
def test_the_kit_passes_every_builtin_unit_type(name, options):
    testing.check_unit_type(pgmdbn.registry.get("units", name), **options)


@pytest.mark.parametrize("name", builtin("factors"))
def test_the_kit_passes_every_builtin_factor_type(name):
    testing.check_factor_type(pgmdbn.registry.get("factors", name), **FACTOR_OPTIONS.get(name, {}))


@pytest.mark.parametrize("name", engines("sampler"))
def test_the_kit_passes_every_builtin_sampler(name):
    testing.check_sampler(name)


@pytest.mark.parametrize("name", engines("trainer"))
def test_the_kit_passes_every_builtin_trainer(name):
    testing.check_trainer(name)


@pytest.mark.parametrize("name", builtin("estimators"))
def test_the_kit_passes_every_builtin_estimator(name):
    testing.check_estimator(name, **ESTIMATOR_OPTIONS.get(name, {}))


def test_the_kit_finds_the_length_normalised_torch_nn_form_off_its_mean():
    """A finding of the kit, kept visible until the type's torch.nn form changes: with
    normalize_length=L the mean is D softmax(βLη/D), while nn_activation gives softmax(η) times D
    (an activation of the field alone cannot divide it by the document length D)."""
    with pytest.raises(AssertionError, match=r"^nn_activation: mean gives .*, out_scale \* nn_activation\(\)\(eta\)"):
        testing.check_unit_type(pgmdbn.registry.get("units", "replicated_softmax"), length=3, normalize_length=4.0)


# --- a type with an option, written as a third party would -----------------------------------

class Binomial(Bernoulli):
    """Counts 0..trials per unit: p(x | eta) ∝ C(trials, x) exp(beta eta x)."""

    name = "test_binomial"
    data_support = None

    def __init__(self, size, trials: int = 1, channels=None):
        super().__init__(size, channels)
        self.trials = int(trials)
        self.support = constraints.integer_interval(0, self.trials)

    def base_energy(self, x):
        n = self.trials
        return -(math.lgamma(n + 1) - torch.lgamma(x + 1) - torch.lgamma(n - x + 1)).sum(-1)

    def log_partition(self, eta, beta=1.0, like=None):
        return self.trials * super().log_partition(eta, beta)

    def log_partition_change(self, eta, beta, prev):
        return Units.log_partition_change(self, eta, beta, prev)  # the float64 difference of the above

    def mean(self, eta, beta=1.0, like=None):
        return self.trials * super().mean(eta, beta)

    def sample(self, eta, beta=1.0, generator=None, like=None):
        p = torch.sigmoid(beta * eta).detach()
        u = torch.rand(p.shape + (self.trials,), generator=generator, dtype=p.dtype, device=p.device)
        return (u < p[..., None]).sum(-1).to(p.dtype)

    def mode(self, eta, like=None):
        return (eta > 0).to(eta.dtype) * self.trials

    def unit_values(self):
        return torch.arange(self.trials + 1.0)

    def state_chunks(self, chunk_size, like=None):
        k = self.trials + 1
        for start in range(0, k ** self.size, chunk_size):
            codes = torch.arange(start, min(start + chunk_size, k ** self.size))[:, None]
            yield (codes // k ** torch.arange(self.size) % k).to(torch.get_default_dtype())

    def states(self, like=None):
        return torch.cat(list(self.state_chunks(4096)))

    def log_state_count(self, like=None):
        return self.size * math.log(self.trials + 1)

    def domain_hint(self, support):
        return f"integers 0..{self.trials}", "pass counts of successes"

    def scales(self):
        one = torch.ones(self.size, dtype=self.bias.dtype)
        return self.trials * one, one

    def reconstruction_loss(self, eta, target):
        return -self.log_prob(target, eta)

    def base_rate_bias(self, x):
        p = (x.mean(0) / self.trials).clamp(1e-3, 1 - 1e-3)
        return torch.log(p) - torch.log1p(-p)

    def config(self):
        return {"trials": self.trials, **super().config()}


def test_the_kit_passes_a_type_with_an_option():
    testing.check_unit_type(Binomial, trials=3)
    assert "test_binomial" not in pgmdbn.registry.names("units")  # registered for the checks only


# --- the mutants: each wrong in one property ---------------------------------------------------

class WrongLogPartition(Bernoulli):
    name = "mutant_log_partition"

    def log_partition(self, eta, beta=1.0, like=None):
        return super().log_partition(eta, beta) + 1e-3 * eta.shape[-1]


class BiasedSampler(Bernoulli):
    name = "mutant_sampler"

    def sample(self, eta, beta=1.0, generator=None, like=None, noise=None):
        return super().sample(eta + 0.3, beta, generator, like, noise)


class InconsistentMean(Bernoulli):
    name = "mutant_mean"

    def mean(self, eta, beta=1.0, like=None):
        return torch.sigmoid(beta * eta + 0.1)


class DroppedOption(Binomial):
    name = "mutant_config"

    def config(self):
        return Bernoulli.config(self)  # forgets trials


class StatesOneShort(Bernoulli):
    name = "mutant_states"

    def states(self, like=None):
        return super().states()[:-1]


class WrongGaussianLogPartition(Gaussian):
    name = "mutant_gaussian_log_partition"

    def log_partition(self, eta, beta=1.0, like=None):
        return super().log_partition(eta, beta) + 1e-3 * eta.shape[-1]


class BiasedGaussianSampler(Gaussian):
    name = "mutant_gaussian_sampler"

    def sample(self, eta, beta=1.0, generator=None, like=None, noise=None):
        return super().sample(eta + 0.3, beta, generator, like, noise)


NUMBER = r"-?\d+\.\d+"


@pytest.mark.parametrize("mutant, options, message", [
    (WrongLogPartition, {}, rf"^log_partition: enumeration gives {NUMBER}, the type gives {NUMBER} "
                            rf"\(difference 0\.001.*beta=1\.0, size=1\)"),
    (BiasedSampler, {}, rf"^sample: 20000 draws lie at total variation {NUMBER} from the exact distribution, more "
                        rf"than {NUMBER}"),
    (InconsistentMean, {}, rf"^mean: d log_partition / d eta gives {NUMBER}, beta \* s\(mean\) gives {NUMBER}"),
    (DroppedOption, {"trials": 3}, r"^config: DroppedOption\(size, \*\*config\(\)\) changes trials: 3 → 1"),
    (StatesOneShort, {}, r"^states: log_state_count\(\) says e\^0\.693147 = 2 states, states\(\) gives 1 rows"),
    (WrongGaussianLogPartition, {}, rf"^log_partition: quadrature gives {NUMBER}, the type gives {NUMBER} "
                                    rf"\(difference 0\.001"),
    (BiasedGaussianSampler, {}, rf"^sample: the mean of 20000 draws of unit 0 is {NUMBER}, quadrature gives {NUMBER} "
                                rf"\(more than 6 standard errors"),
], ids=["log_partition", "sampler", "mean", "config", "states", "continuous log_partition", "continuous sampler"])
def test_the_kit_names_the_property_a_wrong_copy_breaks(mutant, options, message):
    with pytest.raises(AssertionError, match=message):
        testing.check_unit_type(mutant, **options)
    assert mutant.name not in pgmdbn.registry.names("units")


def test_a_type_under_a_taken_name_is_refused_by_the_kit():
    class Impostor(Bernoulli):
        pass  # inherits name "bernoulli", which belongs to the built-in

    with pytest.raises(AssertionError, match=r"^name: Impostor\.name is 'bernoulli', which is registered to"):
        testing.check_unit_type(Impostor)


def test_the_kit_refuses_arguments_that_are_not_types():
    with pytest.raises(pgmdbn.ArgumentTypeError, match="Units subclass"):
        testing.check_unit_type("bernoulli")
    with pytest.raises(pgmdbn.ArgumentTypeError, match="Factor subclass"):
        testing.check_factor_type(Bernoulli)


# --- wrong engines and estimators ------------------------------------------------------------

class ForgetsClamps(BlockGibbs):
    """Samples every layer, the clamped ones too."""

    def run(self, states, steps=1, clamp=(), masks=None, mean=()):
        return super().run(states, steps, clamp=(), masks=None, mean=mean)


@supports("rbm")
def off_by_a_little(model, data=None, **options):
    """The exact log-likelihood plus 0.01 nats, labelled exact."""
    right = exact(model, data, **options)
    return LogLikelihood(right.mean + 0.01, right.per_example + 0.01, right.log_z, "exact", "off_by_a_little")


class Ascent(CD):
    """CD with the sign of its surrogate loss flipped: it climbs the free-energy gap."""

    def loss(self, batch):
        return -super().loss(batch)


class LoudMessage(Dense):
    """A dense factor whose message to its second layer is 1% louder than its energy says."""

    name = "mutant_dense"

    def message(self, to, stat, add=None, beta=1.0):
        out = super().message(to, stat, None, beta) * (1.01 if to == self.b else 1.0)
        return out if add is None else add + out


class SteepGradient(Dense):
    """A dense factor whose closed-form gradient (what CD, PCD and DBM training read) is 1% steep."""

    name = "mutant_gradient"

    def gradient(self, stat_a, stat_b):
        return {name: 1.01 * g for name, g in super().gradient(stat_a, stat_b).items()}


class WrongPlugin:
    @pgmdbn.hookimpl
    def pgmdbn_register_engines(self):
        return {"forgets_clamps": ForgetsClamps, "ascent": Ascent}

    @pgmdbn.hookimpl
    def pgmdbn_register_estimators(self):
        return {"off_by_a_little": off_by_a_little}


@pytest.fixture
def wrong_plugin():
    plugin = WrongPlugin()
    pgmdbn.register_plugin(plugin, name="wrong_plugin")
    yield plugin
    pgmdbn.unregister_plugin(plugin)


def test_the_kit_catches_a_sampler_that_moves_clamped_layers(wrong_plugin):
    with pytest.raises(AssertionError, match=r"^clamp: sampler 'forgets_clamps' changed the clamped layer h"):
        testing.check_sampler("forgets_clamps")


def test_the_kit_catches_an_estimator_off_by_a_hundredth(wrong_plugin):
    with pytest.raises(AssertionError, match=rf"^exact: brute force gives {NUMBER}, 'off_by_a_little' gives {NUMBER} "
                                             rf"\(difference 0\.01"):
        testing.check_estimator("off_by_a_little")


def test_the_kit_catches_a_trainer_that_lowers_the_likelihood(wrong_plugin):
    with pytest.raises(AssertionError, match=rf"^learning: 8 epochs of trainer 'ascent' take the exact "
                                             rf"log-likelihood of the training data from {NUMBER} to {NUMBER} nats"):
        testing.check_trainer("ascent")


def test_the_kit_catches_a_factor_whose_message_is_off_its_energy():
    with pytest.raises(AssertionError, match=rf"^message: d interaction / d s_b gives {NUMBER}, message to b gives "
                                             rf"{NUMBER}"):
        testing.check_factor_type(LoudMessage)


def test_the_kit_catches_a_factor_whose_gradient_is_off_its_interaction():
    with pytest.raises(AssertionError, match=r"^gradient: d Σ interaction / d weight gives \S+, "
                                             r"gradient\(\)\['weight'\] gives \S+ \(difference"):
        testing.check_factor_type(SteepGradient)


@pytest.mark.parametrize("call, error, match", [
    (lambda: testing.check_sampler("gibbs", steps=0), pgmdbn.ArgumentError, "steps=0 must be a positive integer"),
    (lambda: testing.check_trainer("cd", lr=-1.0), pgmdbn.ArgumentError, "lr=-1.0"),
    (lambda: testing.check_estimator("exact", seed=-1), pgmdbn.ArgumentError, "seed=-1"),
    (lambda: testing.check_unit_type(Bernoulli, sizes=(0,)), pgmdbn.ArgumentError, r"sizes must be positive"),
    (lambda: testing.check_sampler("cd"), AssertionError, r"^kind: engine 'cd' has kind 'trainer', not 'sampler'"),
    (lambda: testing.check_estimator("no_such"), pgmdbn.PluginError, "unknown estimator 'no_such'"),
])
def test_the_kit_refuses_bad_arguments_by_name(call, error, match):
    with pytest.raises(error, match=match):
        call()
