"""Independent references for the gallery's tests: brute-force sums over joint states written out
by hand, and numerical integration (scipy.integrate.quad) of each continuous unit's density,
from each type's raw parameters with the energies of the module docstrings. No closed form of
the package is used here."""
import itertools
import math

import numpy as np
import torch
from scipy import integrate

EPS = 1e-13  # quad's relative tolerance


def halves(units) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(γ⁺, γ⁻, δ⁺, δ⁻) per unit of a relu-family layer, from its raw parameters (float64 numpy)."""
    p = {name: t.detach().double().numpy() for name, t in units.named_parameters()}
    if units.name == "relu":
        return np.exp(p["log_gamma"]), np.full_like(p["bias"], np.inf), np.zeros_like(p["bias"]), None
    if units.name == "drelu":
        return np.exp(p["log_gamma_pos"]), np.exp(p["log_gamma_neg"]), p["delta"], p["delta"]
    kappa = np.tanh(p["skew"]) if units.name == "prelu" else p["skew"] / (1 + np.abs(p["skew"]))
    gamma = np.exp(p["log_gamma"])
    return gamma / (1 + kappa), gamma / (1 - kappa), p["delta"] / (1 + kappa), p["delta"] / (1 - kappa)


def log_half(a: float, gamma: float) -> float:
    """log ∫_0^∞ exp(a h − γ h²/2) dh by quad, around the peak h* = max(a/γ, 0)."""
    peak = max(a / gamma, 0.0)
    top = a * peak - gamma * peak * peak / 2
    f = lambda h: math.exp(a * h - gamma * h * h / 2 - top)  # noqa: E731
    width = 1 / (math.sqrt(gamma) + max(-a, 0.0))  # the integrand falls by e^-1 within about this
    pieces = [integrate.quad(f, lo, hi, epsabs=0, epsrel=EPS, limit=200)[0]
              for lo, hi in ((0, peak), (peak, peak + 10 * width), (peak + 10 * width, math.inf)) if hi > lo]
    return top + math.log(sum(pieces))


def log_integral(units, eta: np.ndarray) -> float:
    """Σ_i log ∫ exp(η_i h − own energy_i(h)) dh over a relu-family layer's units, by quad."""
    gp, gn, dp, dn = halves(units)
    total = 0.0
    for i, e in enumerate(np.atleast_1d(eta)):
        pos = log_half(e - dp[i], gp[i])
        total += pos if dn is None else np.logaddexp(pos, log_half(-e - dn[i], gn[i]))
    return total


def own_energy(units, x: np.ndarray) -> float:
    """The layer's base energy (bias excluded) of one state x, written out per type."""
    if units.name in ("bernoulli", "potts"):
        return 0.0
    if units.name == "binomial":
        return -sum(math.log(math.comb(units.trials, int(k))) for k in x)
    gp, gn, dp, dn = halves(units)
    pos, neg = np.maximum(x, 0), np.minimum(x, 0)
    out = gp * pos ** 2 / 2 + dp * pos
    if dn is not None:
        out = out + gn * neg ** 2 / 2 - dn * neg
    return float(np.sum(out))


def discrete_states(units) -> list[np.ndarray]:
    """Every state of a small discrete layer, by itertools (not the type's own ``states``)."""
    if units.name == "bernoulli":
        return [np.array(s, float) for s in itertools.product((0, 1), repeat=units.size)]
    if units.name == "binomial":
        return [np.array(s, float) for s in itertools.product(range(units.trials + 1), repeat=units.size)]
    if units.name == "potts":
        eye = np.eye(units.q)
        return [np.concatenate([eye[a] for a in s]) for s in itertools.product(range(units.q), repeat=units.sites)]
    raise ValueError(units.name)


def rbm_parts(model):
    """(visible units, hidden units, b, c, W) of an RBM "v" — "h", float64 numpy."""
    v, h = model.layer("v"), model.layer("h")
    as_np = lambda t: t.detach().double().numpy()  # noqa: E731
    return v, h, as_np(v.bias), as_np(h.bias), as_np(model.factor("v", "h").weight)


def log_unnormalised(model, x: np.ndarray) -> float:
    """log Σ_h (or ∫ dh) exp(−E(v = x, h)) for one visible state, by brute force or quad."""
    v, h, b, c, w = rbm_parts(model)
    own = -own_energy(v, x) + b @ x
    eta = c + x @ w
    if h.discrete:
        return own + np.logaddexp.reduce([-own_energy(h, s) + eta @ s for s in discrete_states(h)])
    return own + log_integral(h, eta)


def log_z_discrete_visible(model) -> float:
    return float(np.logaddexp.reduce([log_unnormalised(model, s) for s in discrete_states(model.layer("v"))]))


def log_z_discrete_hidden(model) -> float:
    """log Z with continuous visible units integrated by quad for each hidden state."""
    v, h, b, c, w = rbm_parts(model)
    return float(np.logaddexp.reduce([-own_energy(h, s) + c @ s + log_integral(v, b + w @ s)
                                      for s in discrete_states(h)]))


def log_p_continuous_visible(model, x: np.ndarray) -> float:
    """log p(v = x) of a continuous-visible RBM, log Z by quad."""
    return log_unnormalised(model, x) - log_z_discrete_hidden(model)


def double(model):
    """The model in float64 (the tests' tolerances are float64's)."""
    return model.double()


def as_tensor(rows) -> torch.Tensor:
    return torch.as_tensor(np.asarray(rows), dtype=torch.float64)
