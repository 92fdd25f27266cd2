"""Exact enumeration is refused or accepted from the size of the request alone (joint states ×
rows × numbers per state), before any work: the same answer and the same figures on every run,
however busy the machine; counts read as powers of two; ``max_states=`` accepts more."""
import math
import time

import pytest
import torch

import pgmdbn
from pgmdbn.errors import ArgumentError, ArgumentTypeError, TooExpensive
from pgmdbn.estimators import enumerate as enumeration
from pgmdbn.estimators.enumerate import Enumeration, check_size, plan, pow2


def refusal(call) -> TooExpensive:
    with pytest.raises(TooExpensive) as caught:
        call()
    return caught.value


@pytest.fixture
def no_clock_no_work(monkeypatch):
    """Any read of a clock or any free energy computed fails the test: the decision may look at
    nothing but sizes."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the size check read a clock or did work")
    for name in ("perf_counter", "monotonic", "time", "process_time", "perf_counter_ns", "monotonic_ns"):
        monkeypatch.setattr(time, name, forbidden)
    monkeypatch.setattr(pgmdbn.Model, "free_energy", forbidden)
    monkeypatch.setattr(pgmdbn.Model, "field", forbidden)


def test_the_decision_reads_no_clock_and_does_no_work(no_clock_no_work):
    """A refused request is refused before any free energy is computed and without a clock."""
    big = pgmdbn.rbm(784, 24, seed=0)
    first = refusal(lambda: pgmdbn.log_partition(big, progress=False))
    second = refusal(lambda: pgmdbn.log_partition(big, progress=False))
    assert str(first) == str(second)
    assert (first.states_log2, first.work_log2, first.limit_log2, first.limit) == (24.0, second.work_log2, 32.0,
                                                                                    "max_exact_work")
    # an accepted request passes the same pure check (the enumeration itself is not run here)
    check_size([plan(pgmdbn.rbm(784, 20, seed=0), [])])


def test_mnist_demo_sizes_are_accepted_with_headroom():
    """``pgmdbn demo --data mnist``: log Z of a 784-20 RBM (2^20 states) and the exact log p(v)
    of MNIST's 70,000 rows (the hidden layer summed, nothing enumerated)."""
    model = pgmdbn.rbm(784, 20, seed=0)
    log_z = plan(model, [])
    assert log_z.states_log2 == pytest.approx(20) and log_z.per_state == 804
    assert plan(model, ["v"], rows=70_000) is None
    assert log_z.work_log2 < math.log2(pgmdbn.limits.max_exact_work) - 2  # four times the work would pass too
    check_size([log_z, plan(model, ["v"], rows=70_000)])


def test_the_refusal_speaks_powers_of_two_and_python_arguments():
    error = refusal(lambda: pgmdbn.log_partition(pgmdbn.rbm(60, 60, seed=0), progress=False))
    message = str(error)
    assert "2^60 joint states" in message and "max_exact_work=2^32" in message
    assert "max_states=2**60" in message and "method='ais'" in message
    assert "e+" not in message and "seconds" not in message
    assert error.states_log2 == 60 and error.limit == "max_exact_work" and error.alternative == ("ais",)
    assert isinstance(error, MemoryError)


def test_rows_count_in_the_work_of_a_dbm_likelihood():
    """Given the visible rows, a DBM enumerates its hidden layers once per row."""
    model = pgmdbn.dbm([30, 10, 10], seed=0)
    one = plan(model, ["v"], rows=1)
    many = plan(model, ["v"], rows=1024)
    assert many.work_log2 == pytest.approx(one.work_log2 + 10)
    with pgmdbn.limits.override(max_exact_work=2.0 ** math.ceil(one.work_log2 + 5)):
        pgmdbn.log_likelihood(model, torch.zeros(2, 30), progress=False)
        error = refusal(lambda: pgmdbn.log_likelihood(model, torch.zeros(1024, 30), progress=False))
    assert "for each of 1,024 rows" in str(error) and "2^10 joint states" in str(error)


def test_an_explicit_max_states_replaces_the_work_limit():
    model = pgmdbn.rbm(6, 12, seed=0)
    with pgmdbn.limits.override(max_exact_work=1):
        refusal(lambda: pgmdbn.log_partition(model, progress=False))
        accepted = pgmdbn.log_partition(model, max_states=2 ** 6, progress=False).log_z
    assert accepted == pytest.approx(pgmdbn.log_partition(model, progress=False).log_z)
    error = refusal(lambda: pgmdbn.log_partition(model, max_states=2 ** 5, progress=False))
    assert error.limit == "max_states" and error.limit_log2 == 5
    assert "max_states=2^5" in str(error) and "max_states=2**6" in str(error)
    check_size([Enumeration(("h",), 500.0, 1, 10)], max_states=2 ** 500)  # any size the caller accepts


def test_a_directed_model_names_its_own_alternatives():
    error = refusal(lambda: pgmdbn.log_likelihood(pgmdbn.dbn([4, 36, 3], seed=0), torch.zeros(1, 4),
                                                  progress=False))
    assert error.alternative == ("bound", "iwae") and "2^36" in str(error)


@pytest.mark.parametrize("value,error", [(0, ArgumentError), (-3, ArgumentError), (float("nan"), ArgumentError),
                                         (float("inf"), ArgumentError), ("2**20", ArgumentTypeError),
                                         (True, ArgumentTypeError)])
def test_max_states_is_validated(value, error):
    with pytest.raises(error, match="max_states"):
        pgmdbn.log_partition(pgmdbn.rbm(4, 3, seed=0), max_states=value, progress=False)


def test_powers_of_two_read_whole_or_to_a_tenth():
    assert pow2(20.0) == "2^20" and pow2(29.66) == "2^29.7" and pow2(15.849) == "2^15.8"
    assert pow2(500) == "2^500" and enumeration.ceil_log2(math.log2(2 ** 20)) == 20
