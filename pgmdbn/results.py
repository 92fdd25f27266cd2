"""The one result type every estimator returns."""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

KINDS = ("exact", "estimate", "stochastic lower bound", "lower bound", "upper bound", "pseudo-likelihood",
         "pseudo-likelihood estimate")


@dataclass
class LogLikelihood:
    """A log-likelihood (nats per example) or log partition function, and what kind of number it is.

    Every estimator returns one (``pgmdbn.log_likelihood``, ``pgmdbn.log_partition``); ``str()``
    gives one line, ``to_dict()`` the JSON-ready form the command line prints.

    Attributes:
        mean: the average of ``per_example`` in nats; None for a bare log Z (no data given).
        per_example: (n,) float64 tensor of log p(v) for each example, in the data's order; None
            for a bare log Z.
        log_z: the log partition function used (of the whole model, or for a DBN or SBN the
            top RBM's); None where none is needed (``raise``, ``pl``).
        kind: what the number is, one of ``KINDS``: "exact"; "estimate" (AIS: log Ẑ unbiased in
            Ẑ, so log p(v) is on average a little too high); "stochastic lower bound" (RAISE,
            the DBN/SBN variational and importance-weighted bounds: below log p(v) on average);
            "lower bound" (the DBM mean-field bound with an exact log Z); "upper bound";
            "pseudo-likelihood" and "pseudo-likelihood estimate" (not log p(v) at all).
        method: the estimator's registered name ("exact", "ais", "raise", "bound", "iwae", "pl", ...).
        spread: the estimator's uncertainty and settings, by name. AIS: "ess" (effective sample
            size of the chains' weights), "n_chains", "log_weight_std", "log_z_plus_3sigma" and
            "log_z_minus_3sigma" (log(Ẑ ± 3σ)), with ``runs > 1`` "log_z_runs" and
            "log_z_run_std", with ``compare_raise`` "raise_mean" and "ais_mean_on_raise_subset".
            RAISE: "n_chains", "log_weight_std", "std_per_example". bound: "samples",
            "std_error", "log_z_top"; iwae: "samples", "ess_mean", "log_z_top". exact:
            "std_per_example". Streamed data adds "batches". Empty where nothing is uncertain.
        warnings: sentences on why the number may mislead (a low effective sample size, an AIS
            log Z under a bound, AIS and RAISE disagreeing); empty when there is nothing to say.
    """

    mean: float | None
    per_example: Tensor | None
    log_z: float | None
    kind: str
    method: str
    spread: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    def to_dict(self) -> dict:
        return {"mean": self.mean, "log_z": self.log_z, "kind": self.kind, "method": self.method,
                "n_examples": None if self.per_example is None else len(self.per_example),
                "spread": self.spread, "warnings": self.warnings}

    def __str__(self) -> str:
        value = self.log_z if self.mean is None else self.mean
        what = "log Z" if self.mean is None else "log p(v)"
        return f"{what} = {value:.4f} nats ({self.kind}, {self.method})"
