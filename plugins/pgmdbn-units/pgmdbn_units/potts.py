"""Potts units: a layer of ``sites`` variables with q states each (option ``states`` = q), one-hot
coded site by site (size = sites × q, unit ``s * q + a`` is site s in state a); each site is a
softmax of its q fields, p(x_s = a | η) ∝ e^{β η_{s,a}}, the sites independent given η."""
import math

import torch
from torch.distributions import constraints
from torch.nn import functional as F

from pgmdbn import validation
from pgmdbn.errors import DataError, ModelError
from pgmdbn.units import Units


class SitewiseOneHot(constraints.Constraint):
    """Rows of sites × q values, each site's q values one-hot (checked per site, element-wise)."""

    is_discrete = True
    event_dim = 0

    def __init__(self, q: int):
        self.q = q

    def check(self, value):
        binary = (value == 0) | (value == 1)
        one = value.reshape(*value.shape[:-1], -1, self.q).sum(-1, keepdim=True) == 1
        return binary & one.expand(*value.shape[:-1], -1, self.q).reshape(value.shape)


class Potts(Units):
    """``size // states`` independent q-state sites (given η), one-hot coded."""

    name = "potts"

    def __init__(self, size: int, states: int = 2, channels: int | None = None):
        super().__init__(size, channels)
        self.q = validation.positive_int("states", states, "a Potts site needs q >= 2 states")
        if self.q < 2 or self.size % self.q:
            raise ModelError(f"potts layer of size {self.size}, states={self.q}: pass states >= 2, size = sites × states")
        self.sites = self.size // self.q
        self.support = SitewiseOneHot(self.q)

    def _sites(self, eta):
        return eta.reshape(*eta.shape[:-1], self.sites, self.q)

    def log_partition(self, eta, beta=1.0, like=None):
        return torch.logsumexp(self._sites(beta * eta), -1).sum(-1)

    def mean(self, eta, beta=1.0, like=None):
        return torch.softmax(self._sites(beta * eta), -1).reshape(eta.shape)

    def noise(self, shape, generator=None, dtype=None, device=None):
        return torch.rand(shape, generator=generator, dtype=dtype, device=device)

    def sample(self, eta, beta=1.0, generator=None, like=None, noise=None):
        """The Gumbel-max draw: per site, the state maximising β η + Gumbel(u) (one uniform per unit)."""
        if noise is None:
            noise = self.noise(eta.shape, generator, eta.dtype, eta.device)
        with torch.no_grad():
            gumbel = -torch.log(-torch.log(noise.double()))
            pick = (self._sites(beta * eta.double()) + self._sites(gumbel)).argmax(-1)
            return F.one_hot(pick, self.q).to(eta.dtype).reshape(eta.shape)

    def mode(self, eta, like=None):
        return F.one_hot(self._sites(eta).argmax(-1), self.q).to(eta.dtype).reshape(eta.shape)

    def states(self, like=None):
        return torch.cat(list(self.state_chunks(2 ** 16)))

    def state_chunks(self, chunk_size, like=None):
        if self.log_state_count() > 40 * math.log(2):
            Units.states(self)  # raises: far too many states to enumerate
        place = self.q ** torch.arange(self.sites)
        for start in range(0, self.q ** self.sites, chunk_size):
            codes = torch.arange(start, min(start + chunk_size, self.q ** self.sites)).unsqueeze(-1)
            yield F.one_hot(codes // place % self.q, self.q).reshape(len(codes), -1).to(torch.get_default_dtype())

    def log_state_count(self, like=None):
        return self.sites * math.log(self.q)

    def encode_sequences(self, index):
        """Integer sequences (n, sites), states in 0..q−1 -> one-hot rows (n, size) (the contract's
        ``encode`` is for one categorical variable, which a layer of sites is not)."""
        index = torch.as_tensor(index)
        if index.is_floating_point() or index.shape[1:] != (self.sites,) or not ((index >= 0) & (index < self.q)).all():
            raise DataError(f"layer {self.layer_name!r} (potts) encodes integer sequences (n, {self.sites}) with "
                            f"states in 0..{self.q - 1}, got {index.dtype} {tuple(index.shape)}; recode them")
        return F.one_hot(index.long(), self.q).reshape(len(index), -1).to(self.bias.dtype)

    def domain_hint(self, support):
        return f"one-hot rows per site ({self.sites} sites × {self.q} states)", "one-hot encode (encode_sequences)"

    def base_rate_bias(self, x):
        p = self._sites(x.mean(0)).clamp_min(1e-3).log()
        return (p - p.mean(-1, keepdim=True)).reshape(-1)

    def config(self):
        return {"states": self.q, **super().config()}
