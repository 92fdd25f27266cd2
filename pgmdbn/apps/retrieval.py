"""Document retrieval with codes (Hinton & Salakhutdinov 2006; Salakhutdinov & Hinton 2009,
"Semantic hashing"): ranking by cosine similarity, precision-recall curves, the LSA and tf-idf
baselines, and Hamming-ball search over binary codes with a hash table.

Evaluation as in the papers: every test document is a query; the training documents are ranked
by the cosine similarity of their codes to the query's; a training document is relevant when it
shares a label with the query (one int label each, or a multi-hot topic set each: relevant when
any topic is shared). For each query, the precision at recall level r is the precision of the
shortest ranked list that holds a fraction r of its relevant documents; the curve averages it
over the queries that have relevant documents. ``RECALL_LEVELS`` spans 0.0001 to 1 for a log
axis, as in the papers' figures.

Semantic hashing: each training document's binary code is a key of a hash table (the code read
as an integer); a query looks up every code within Hamming distance r of its own (Σ_{i≤r}
C(bits, i) keys: 5,489 for 32 bits and r = 3), so its cost does not grow with the collection.

Everything here is torch except the hash table (a Python dict); LSA is a truncated
eigendecomposition of XᵀX in torch, so no scikit-learn is needed.
"""
from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import DataError

__all__ = ["RECALL_LEVELS", "cosine_similarities", "relevance", "precision_at_recall", "precision_recall_curve",
           "tfidf", "lsa_codes", "median_bits", "pack_bits", "hamming_distances", "ball_masks", "HammingIndex",
           "hamming_ball_precision_recall", "queries_per_second"]

RECALL_LEVELS = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


# --- similarity and relevance --------------------------------------------------------------

def cosine_similarities(queries: Tensor, database: Tensor) -> Tensor:
    """(q, d) and (n, d) -> (q, n) cosine similarities; all-zero rows score 0."""
    if queries.ndim != 2 or database.ndim != 2 or queries.shape[1] != database.shape[1]:
        raise DataError(f"cosine similarity needs (q, d) queries and (n, d) database codes, got "
                        f"{tuple(queries.shape)} and {tuple(database.shape)}")
    q = torch.nn.functional.normalize(queries.float(), dim=1)
    d = torch.nn.functional.normalize(database.float(), dim=1)
    return q @ d.T


def relevance(query_labels: Tensor, database_labels: Tensor) -> Tensor:
    """bool (q, n): int labels (q,), (n,) are relevant when equal (and not negative, "no label");
    multi-hot (q, T), (n, T) when they share any label."""
    if query_labels.ndim == 1 and database_labels.ndim == 1:
        same = query_labels[:, None] == database_labels[None, :]
        return same & (query_labels[:, None] >= 0)
    if query_labels.ndim == 2 and database_labels.ndim == 2 and query_labels.shape[1] == database_labels.shape[1]:
        return (query_labels.float() @ database_labels.float().T) > 0
    raise DataError(f"labels must be (q,) and (n,) ints or (q, T) and (n, T) topic sets, got "
                    f"{tuple(query_labels.shape)} and {tuple(database_labels.shape)}")


# --- precision and recall ------------------------------------------------------------------

def precision_at_recall(scores: Tensor, relevant: Tensor, levels: Sequence[float] = RECALL_LEVELS) -> Tensor:
    """(q, L) precision of each query at each recall level; NaN for a query without relevant
    documents.

    ``scores`` (q, n): higher is more similar; ties keep database order (a stable sort), so
    results are reproducible. At level r the list is cut just after its ceil(r·R)-th relevant
    document (R relevant in all, at least one): precision = ceil(r·R) / that rank."""
    if scores.shape != relevant.shape:
        raise DataError(f"scores {tuple(scores.shape)} and relevance {tuple(relevant.shape)} must match")
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    hits = relevant.gather(1, order).long().cumsum(1)  # relevant documents within the first k+1
    total = hits[:, -1:]
    levels_t = torch.as_tensor(levels, dtype=torch.float64, device=scores.device)
    # the number of relevant documents a recall level asks for (the tiny slack absorbs 0.1·30 = 3.0000000004)
    needed = torch.ceil(levels_t[None, :] * total.double() - 1e-9).clamp(min=1).long()
    rank = torch.searchsorted(hits, needed) + 1  # where the needed-th relevant document sits, 1-based
    precision = needed.double() / rank.double()
    return torch.where(total > 0, precision, torch.full_like(precision, math.nan))


def precision_recall_curve(query_codes: Tensor, database_codes: Tensor, query_labels: Tensor,
                           database_labels: Tensor, levels: Sequence[float] = RECALL_LEVELS,
                           score: Callable[[Tensor, Tensor], Tensor] = cosine_similarities,
                           batch_size: int = 256, device=None) -> dict:
    """Precision at each recall level averaged over the queries with relevant documents.

    ``score(queries, database) -> (q, n)`` ranks the database (default cosine similarity);
    queries go in batches of ``batch_size`` on ``device`` (default: the codes' device).
    Returns {"recall": levels, "precision": [...], "queries": number averaged over}."""
    if len(query_codes) != len(query_labels) or len(database_codes) != len(database_labels):
        raise DataError(f"codes and labels disagree in length: {len(query_codes)} queries with "
                        f"{len(query_labels)} labels, {len(database_codes)} documents with {len(database_labels)}")
    device = torch.device(device) if device is not None else query_codes.device
    database, db_labels = database_codes.to(device), database_labels.to(device)
    total, used = torch.zeros(len(levels), dtype=torch.float64, device=device), 0
    for start in range(0, len(query_codes), batch_size):
        q = query_codes[start:start + batch_size].to(device)
        rel = relevance(query_labels[start:start + batch_size].to(device), db_labels)
        precision = precision_at_recall(score(q, database), rel, levels)
        ok = ~torch.isnan(precision[:, 0])
        total += precision[ok].sum(0)
        used += int(ok.sum())
    mean = (total / max(used, 1)).tolist() if used else [math.nan] * len(levels)
    return {"recall": [float(r) for r in levels], "precision": mean, "queries": used}


# --- baselines -----------------------------------------------------------------------------

def tfidf(train_counts: Tensor, test_counts: Tensor) -> tuple[Tensor, Tensor]:
    """log(1 + tf) · idf, with idf = log((1 + n) / (1 + df)) + 1 from the training documents."""
    n = len(train_counts)
    df = (train_counts > 0).sum(0).double()
    idf = (torch.log((1 + n) / (1 + df)) + 1).to(train_counts.dtype)
    return torch.log1p(train_counts) * idf, torch.log1p(test_counts) * idf


def lsa_codes(train_counts: Tensor, test_counts: Tensor, k: int = 10) -> tuple[Tensor, Tensor]:
    """Latent semantic analysis (Deerwester et al. 1990) on log(1 + counts): the projections on
    the top ``k`` right singular vectors of the training matrix (found as eigenvectors of XᵀX,
    in float64), for the training and the test documents: (n, k), (m, k)."""
    if not 1 <= k <= train_counts.shape[1]:
        raise ValueError(f"k must lie in 1..{train_counts.shape[1]}, got {k}")
    x = torch.log1p(train_counts.double())
    if len(x) >= x.shape[1]:
        _, vectors = torch.linalg.eigh(x.T @ x)  # ascending eigenvalues
        basis = vectors[:, -k:].flip(1)
    else:  # fewer documents than words: the smaller Gram matrix X Xᵀ = U S² Uᵀ, then V = Xᵀ U / S
        values, left = torch.linalg.eigh(x @ x.T)
        values, left = values[-k:].flip(0), left[:, -k:].flip(1)
        basis = x.T @ left / values.clamp(min=1e-12).sqrt()
    return (x @ basis).float(), (torch.log1p(test_counts.double()) @ basis).float()


def median_bits(train_codes: Tensor, test_codes: Tensor) -> tuple[Tensor, Tensor]:
    """Binary codes from real ones, each bit set where the value exceeds its training median
    (balanced bits: the binarised-LSA hashing baseline)."""
    median = train_codes.median(0).values
    return train_codes > median, test_codes > median


# --- binary codes and Hamming balls --------------------------------------------------------

def pack_bits(bits: Tensor) -> list[int]:
    """bool (n, b) -> n ints, bit j of the int is column j (b <= 63)."""
    if bits.ndim != 2 or bits.shape[1] > 63:
        raise DataError(f"pack_bits takes (n, b) bits with b <= 63, got {tuple(bits.shape)}")
    weights = torch.tensor([1 << j for j in range(bits.shape[1])], dtype=torch.int64, device=bits.device)
    return (bits.long() * weights).sum(1).tolist()


def hamming_distances(query_bits: Tensor, database_bits: Tensor) -> Tensor:
    """(q, b), (n, b) bools -> (q, n) Hamming distances (brute force, as one matrix product)."""
    q, d = query_bits.float(), database_bits.float()
    return (q.sum(1, keepdim=True) + d.sum(1)[None, :] - 2 * q @ d.T).round().long()


def ball_masks(n_bits: int, radius: int) -> list[int]:
    """XOR masks of every code within Hamming distance ``radius``, nearest first."""
    return [sum(1 << j for j in flips) for r in range(radius + 1)
            for flips in itertools.combinations(range(n_bits), r)]


class HammingIndex:
    """A hash table from binary codes (as ints) to the database rows that have them.

    ``search(code, radius)`` returns the rows whose codes lie within Hamming distance
    ``radius`` of ``code``, nearest first (rows of one code in database order), by looking up
    every code of the Hamming ball."""

    def __init__(self, bits: Tensor):
        if bits.ndim != 2:
            raise DataError(f"HammingIndex takes (n, bits) bools, got shape {tuple(bits.shape)}")
        self.n_bits = bits.shape[1]
        buckets: dict[int, list[int]] = {}
        for row, key in enumerate(pack_bits(bits.cpu())):
            buckets.setdefault(key, []).append(row)
        self.table = {key: np.asarray(rows, dtype=np.int64) for key, rows in buckets.items()}
        self._masks: dict[int, list[int]] = {}
        self._empty = np.zeros(0, dtype=np.int64)

    def masks(self, radius: int) -> list[int]:
        if radius not in self._masks:
            self._masks[radius] = ball_masks(self.n_bits, radius)
        return self._masks[radius]

    def search(self, code: int, radius: int) -> np.ndarray:
        """Database rows within ``radius`` of ``code`` (an int from ``pack_bits``)."""
        get = self.table.get
        found = [rows for rows in (get(code ^ mask) for mask in self.masks(radius)) if rows is not None]
        return np.concatenate(found) if found else self._empty

    def __len__(self) -> int:
        return len(self.table)


def hamming_ball_precision_recall(query_bits: Tensor, database_bits: Tensor, query_labels: Tensor,
                                  database_labels: Tensor, radii: Sequence[int] = (0, 1, 2, 3),
                                  batch_size: int = 512, device=None) -> dict:
    """Per radius r, retrieval of every database document within Hamming distance r:
    {r: {"precision": mean over the queries that retrieve something, "recall": mean over the
    queries with relevant documents, "found": fraction of queries that retrieve something,
    "retrieved": mean number retrieved}} (from brute-force distances, which equal the hash
    table's results)."""
    device = torch.device(device) if device is not None else query_bits.device
    database, db_labels = database_bits.to(device), database_labels.to(device)
    sums = {r: {"precision": 0.0, "recall": 0.0, "found": 0, "retrieved": 0.0} for r in radii}
    with_relevant = 0
    for start in range(0, len(query_bits), batch_size):
        dist = hamming_distances(query_bits[start:start + batch_size].to(device), database)
        rel = relevance(query_labels[start:start + batch_size].to(device), db_labels)
        n_rel = rel.sum(1)
        with_relevant += int((n_rel > 0).sum())
        for r in radii:
            got = dist <= r
            n_got, n_hit = got.sum(1), (got & rel).sum(1)
            some = n_got > 0
            acc = sums[r]
            acc["precision"] += (n_hit[some].double() / n_got[some]).sum().item()
            acc["recall"] += (n_hit[n_rel > 0].double() / n_rel[n_rel > 0]).sum().item()
            acc["found"] += int(some.sum())
            acc["retrieved"] += n_got.double().sum().item()
    n = len(query_bits)
    return {r: {"precision": acc["precision"] / max(acc["found"], 1),
                "recall": acc["recall"] / max(with_relevant, 1),
                "found": acc["found"] / max(n, 1), "retrieved": acc["retrieved"] / max(n, 1)}
            for r, acc in sums.items()}


def queries_per_second(search: Callable[[int], object], n_queries: int, synchronize=None) -> float:
    """Time ``search(i)`` for i in range(n_queries), one query after the other, and return
    queries per second (``synchronize()`` is called before stopping the clock, for GPUs)."""
    t0 = time.perf_counter()
    for i in range(n_queries):
        search(i)
    if synchronize is not None:
        synchronize()
    return n_queries / max(time.perf_counter() - t0, 1e-12)
