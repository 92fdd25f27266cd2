"""Document retrieval: precision-recall against hand and brute-force computations, Hamming-ball
search against a brute-force scan, LSA against an SVD, the replicated-softmax autoencoder
against the model's up- and down-pass, binary codes, and the benchmark script at small size."""
import json
import math
import os
import subprocess
import sys
from math import comb
from pathlib import Path

import pytest
import torch

import pgmdbn
from pgmdbn.data.reuters import find_reuters_files
from pgmdbn.finetune.autoencoder import (CodeNoise, add_code_noise, binary_codes, encode, fine_tune,
                                         stack, unroll)
from pgmdbn.apps.retrieval import (RECALL_LEVELS, HammingIndex, ball_masks, cosine_similarities,
                                       hamming_ball_precision_recall, hamming_distances, lsa_codes, median_bits,
                                       pack_bits, precision_at_recall, precision_recall_curve, relevance, tfidf)
from pgmdbn.inference import up_means

from documents import topic_counts

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "retrieval.py"


# --- precision and recall ------------------------------------------------------------------

def test_precision_at_recall_on_a_known_ranking():
    # ranking: relevant, irrelevant, relevant, irrelevant, relevant (R = 3)
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0]])
    relevant = torch.tensor([[True, False, True, False, True]])
    p = precision_at_recall(scores, relevant, [0.1, 1 / 3, 0.5, 2 / 3, 1.0])
    # recall 0.1 and 1/3 need the 1st relevant (rank 1); 0.5 and 2/3 the 2nd (rank 3); 1.0 the 3rd (rank 5)
    torch.testing.assert_close(p, torch.tensor([[1.0, 1.0, 2 / 3, 2 / 3, 3 / 5]], dtype=torch.float64))
    none = precision_at_recall(scores, torch.zeros_like(relevant), [0.5])
    assert math.isnan(none.item())


def test_ties_keep_database_order():
    scores = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    relevant = torch.tensor([[False, False, True, True]])
    p = precision_at_recall(scores, relevant, [0.5, 1.0])
    torch.testing.assert_close(p, torch.tensor([[1 / 3, 2 / 4]], dtype=torch.float64))


def _brute_force_curve(queries, database, q_topics, d_topics, levels):
    """Precision at recall by walking each ranked list in Python."""
    sums, used = [0.0] * len(levels), 0
    for i in range(len(queries)):
        sims = [torch.nn.functional.cosine_similarity(queries[i], database[j], dim=0).item()
                for j in range(len(database))]
        ranked = sorted(range(len(database)), key=lambda j: (-sims[j], j))
        rel = [bool((q_topics[i] & d_topics[j]).any()) for j in ranked]
        total = sum(rel)
        if total == 0:
            continue
        used += 1
        for k, level in enumerate(levels):
            need, seen = max(1, math.ceil(level * total - 1e-9)), 0
            for rank, r in enumerate(rel, 1):
                seen += r
                if seen == need:
                    sums[k] += need / rank
                    break
    return [s / used for s in sums], used


def test_curve_equals_brute_force_on_random_codes():
    gen = torch.Generator().manual_seed(0)
    database, queries = torch.randn(60, 5, generator=gen), torch.randn(9, 5, generator=gen)
    d_topics = torch.rand(60, 4, generator=gen) < 0.3
    q_topics = torch.rand(9, 4, generator=gen) < 0.3
    q_topics[1:, 1] = True
    q_topics[0] = False  # a query without relevant documents is left out of the average
    levels = [0.01, 0.1, 0.25, 0.5, 0.8, 1.0]
    curve = precision_recall_curve(queries, database, q_topics, d_topics, levels, batch_size=4)
    expected, used = _brute_force_curve(queries, database, q_topics, d_topics, levels)
    assert curve["queries"] == used == 8 and curve["recall"] == levels
    assert curve["precision"] == pytest.approx(expected, abs=1e-12)


def test_relevance_of_labels_and_topic_sets():
    assert relevance(torch.tensor([0, 1, -1]), torch.tensor([1, 0, -1])).tolist() == [
        [False, True, False], [True, False, False], [False, False, False]]
    q = torch.tensor([[True, False, True]])
    d = torch.tensor([[False, False, True], [False, True, False]])
    assert relevance(q, d).tolist() == [[True, False]]
    with pytest.raises(pgmdbn.DataError):
        relevance(torch.tensor([0]), d)


def test_cosine_similarity_and_tfidf():
    sims = cosine_similarities(torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.tensor([[2.0, 0.0], [1.0, 1.0]]))
    torch.testing.assert_close(sims, torch.tensor([[1.0, 2 ** -0.5], [0.0, 0.0]]))
    counts = torch.tensor([[1.0, 0.0], [3.0, 2.0]])
    train, test = tfidf(counts, torch.tensor([[0.0, 1.0]]))
    # the word in every document weighs idf 1, the other log(3/2) + 1
    torch.testing.assert_close(train, torch.log1p(counts) * torch.tensor([1.0, math.log(1.5) + 1]))
    assert test[0, 0] == 0 and test[0, 1] > 0


@pytest.mark.parametrize("n_docs", [40, 8])  # more documents than words, and fewer
def test_lsa_is_the_truncated_svd_projection(n_docs):
    gen = torch.Generator().manual_seed(1)
    counts = torch.poisson(torch.rand(n_docs, 12, generator=gen) * 3, generator=gen)
    test = torch.poisson(torch.rand(5, 12, generator=gen) * 3, generator=gen)
    train_codes, test_codes = lsa_codes(counts, test, k=3)
    x = torch.log1p(counts.double())
    _, _, vt = torch.linalg.svd(x, full_matrices=False)
    basis = vt[:3].T
    for ours, theirs in ((train_codes, x @ basis), (test_codes, torch.log1p(test.double()) @ basis)):
        signs = torch.sign((ours.double() * theirs).sum(0))  # singular vectors are defined up to sign
        torch.testing.assert_close(ours.double() * signs, theirs, atol=1e-4, rtol=1e-4)
    train_bits, test_bits = median_bits(train_codes, test_codes)
    assert train_bits.dtype == torch.bool and test_bits.shape == (5, 3)


# --- Hamming balls -------------------------------------------------------------------------

def test_ball_masks_and_packing():
    assert len(ball_masks(32, 3)) == sum(comb(32, r) for r in range(4)) == 5489
    assert ball_masks(3, 1) == [0, 1, 2, 4]
    assert pack_bits(torch.tensor([[True, False, True], [False, False, False]])) == [5, 0]
    with pytest.raises(pgmdbn.DataError):
        pack_bits(torch.zeros(2, 64, dtype=torch.bool))


@pytest.mark.parametrize("radius", [0, 1, 2, 3])
def test_hamming_ball_search_equals_brute_force(radius):
    gen = torch.Generator().manual_seed(radius)
    # few distinct codes, so buckets hold several documents and balls several buckets
    centres = torch.rand(6, 12, generator=gen) < 0.5
    flips = torch.rand(300, 12, generator=gen) < 0.08
    database = centres[torch.randint(0, 6, (300,), generator=gen)] ^ flips
    queries = torch.rand(20, 12, generator=gen) < 0.5
    queries[:6] = centres
    index = HammingIndex(database)
    keys = pack_bits(queries)
    dist = hamming_distances(queries, database)
    assert dist.tolist() == [[int((q ^ d).sum()) for d in database] for q in queries]
    for i, key in enumerate(keys):
        found = index.search(key, radius)
        assert sorted(found.tolist()) == (dist[i] <= radius).nonzero().flatten().tolist()
        assert dist[i, torch.as_tensor(found)].diff().ge(0).all()  # nearest first


def test_hamming_ball_precision_recall_by_hand():
    database = torch.tensor([[0, 0], [0, 1], [1, 1], [1, 1]], dtype=torch.bool)
    d_labels = torch.tensor([0, 0, 1, 0])
    queries = torch.tensor([[0, 0], [1, 1]], dtype=torch.bool)
    q_labels = torch.tensor([0, 1])
    stats = hamming_ball_precision_recall(queries, database, q_labels, d_labels, radii=(0, 1))
    # radius 0: query 0 finds doc 0 (relevant; 1 of 3), query 1 finds docs 2, 3 (1 relevant of 1)
    assert stats[0]["precision"] == pytest.approx((1 + 0.5) / 2)
    assert stats[0]["recall"] == pytest.approx((1 / 3 + 1) / 2)
    assert stats[0]["found"] == 1.0 and stats[0]["retrieved"] == pytest.approx(1.5)
    # radius 1: query 0 finds docs 0, 1 (both relevant), query 1 finds docs 1, 2, 3
    assert stats[1]["precision"] == pytest.approx((1 + 1 / 3) / 2)
    assert stats[1]["recall"] == pytest.approx((2 / 3 + 1) / 2)


# --- the replicated-softmax autoencoder ----------------------------------------------------

@pytest.fixture(scope="module")
def counts():
    """Word counts of 200 documents over 30 words from 3 topics, lengths 5..40: (200, 30)."""
    return topic_counts(200, 30, 3, (5, 40))


@pytest.fixture(scope="module")
def softmax_stack(counts):
    model = stack([30, 12, 8, 4], visible="replicated_softmax", seed=0)
    pgmdbn.pretrain(model, counts, epochs=2, batch_size=20, per_stage=[{"lr": r} for r in (0.01, 0.05, 0.005)],
                    momentum=0.9, weight_decay=2e-4, progress=False)
    return model


def test_unrolled_replicated_softmax_encoder_is_the_up_pass(softmax_stack, counts):
    model = softmax_stack
    ae = unroll(model)
    assert ae.output == "softmax" and ae.sizes == [30, 12, 8, 4]
    means = up_means(model, counts)
    code = model.layer("h3").mean(model.field("h3", {"h2": means["h2"]}))
    with torch.no_grad():
        torch.testing.assert_close(ae.encoder.h1(counts), means["h1"])
        torch.testing.assert_close(ae.encode(counts), code)
        torch.testing.assert_close(encode(ae, counts, batch_size=7), code)
        # the decoder is the down-pass; the visible mean is D * softmax(field), D from the data
        h2 = model.layer("h2").mean(model.field("h2", {"h3": code}))
        h1 = model.layer("h1").mean(model.field("h1", {"h2": h2}))
        field = model.field("v", {"h1": h1})
        torch.testing.assert_close(ae(counts), model.layer("v").mean(field, like=counts))
        torch.testing.assert_close(ae.decode(code), torch.softmax(field, -1))
        torch.testing.assert_close(ae.loss(counts), -(counts * torch.log_softmax(field, -1)).sum(1))


def test_fine_tuning_a_softmax_output_lowers_its_loss(softmax_stack, counts):
    ae = unroll(softmax_stack)
    with torch.no_grad():
        before = ae.loss(counts).mean().item()
    fine_tune(ae, counts, epochs=15, lr=3e-3, batch_size=20, progress=False)
    with torch.no_grad():
        assert ae.loss(counts).mean().item() < before
    with pytest.raises(pgmdbn.DataError, match="at least one word"):
        fine_tune(ae, torch.zeros(3, 30), epochs=1, progress=False)


def test_code_noise_acts_only_in_training_passes():
    noise = CodeNoise(std=2.0, seed=3)
    x = torch.zeros(4, 5)
    noisy = noise(x)
    assert noisy.abs().sum() > 0
    torch.testing.assert_close(CodeNoise(std=2.0, seed=3)(x), noisy)  # seeded
    with torch.no_grad():
        assert torch.equal(noise(x), x)
    assert torch.equal(noise.eval()(x), x)


def test_binary_codes_from_a_noisy_logistic_code_layer(softmax_stack, counts):
    model = stack([30, 12, 8, 6], visible="replicated_softmax", code="bernoulli", seed=0)
    pgmdbn.pretrain(model, counts, epochs=2, lr=0.05, batch_size=20, per_stage=[{"lr": 0.01}, {}, {}],
                    momentum=0.9, weight_decay=2e-4, progress=False)
    ae = add_code_noise(unroll(model), std=4.0, seed=0)
    assert isinstance(ae.encoder.h3[1], CodeNoise) and ae.sizes == [30, 12, 8, 6]
    assert isinstance(add_code_noise(ae, std=2.0).encoder.h3[1], CodeNoise)  # reset, not stacked
    assert len(ae.encoder.h3) == 3 and ae.encoder.h3[1].std == 2.0
    add_code_noise(ae, std=4.0)
    before = encode(ae, counts)
    fine_tune(ae, counts, epochs=20, lr=1e-2, batch_size=20, progress=False)
    after = encode(ae, counts)

    def near_binary(codes):
        return ((codes < 0.1) | (codes > 0.9)).float().mean().item()

    assert near_binary(after) > near_binary(before)
    bits = binary_codes(ae, counts)
    assert bits.dtype == torch.bool and torch.equal(bits, after > 0.5)
    with pytest.raises(pgmdbn.UnsupportedModel, match="code='bernoulli'"):
        binary_codes(unroll(softmax_stack), counts)


# --- the benchmark script ------------------------------------------------------------------

def test_benchmark_small_json(tmp_path):
    try:
        find_reuters_files()
    except pgmdbn.DataNotFound as e:
        pytest.skip(f"Reuters-21578 not found ($PGMDBN_DATA or ../shared/data); the retrieval benchmark needs the "
                    f"real documents: {e}")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--small", "--json", "--out", str(tmp_path), "--threads", "1"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["small"] and report["data"] == "reuters21578" and report["device"] == "cpu"
    rows = report["results"]
    assert {"autoencoder", "unrolled", "lsa", "tfidf", "hash", "lsa_bits"} <= set(rows)
    for row in rows.values():
        assert row["recall"] == list(RECALL_LEVELS) and row["queries"] > 0 and row["seconds"] >= 0
        assert all(0 <= p <= 1 for p in row["precision"])
    radii = [str(r) for r in report["config"]["radii"]]
    assert list(rows["hash"]["radius"]) == radii
    recalls = [rows["hash"]["radius"][r]["recall"] for r in radii]
    assert recalls == sorted(recalls)  # a larger ball finds at least as much
    speed = report["speed"]
    assert speed["hash_equals_brute_force"] is True
    assert all(speed[k] > 0 for k in ("hash_r0", "brute_hamming", "brute_cosine_10d", "brute_cosine_tfidf"))
    assert len(report["features"]) > 0 and all(len(f["words"]) == 8 for f in report["features"])
    assert len(report["pngs"]) == 3
    for png in report["pngs"]:
        assert Path(png).parent == tmp_path and Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_benchmark_small_select_json(tmp_path):
    """--select scores its candidates on held-out training documents, then runs the test set with
    the chosen settings and says whether the codes beat LSA-10 at every recall level."""
    try:
        find_reuters_files()
    except pgmdbn.DataNotFound as e:
        pytest.skip(f"Reuters-21578 not found: {e}")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--small", "--select", "--json", "--out", str(tmp_path),
                           "--threads", "1"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    selection = report["selection"]
    assert selection["seed"] == 0 and selection["queries"] == 200 and selection["database"] == 600
    rows = selection["candidates"]
    assert len(rows) == 4  # two pretrainings, each scored unrolled and after 2 epochs
    assert {r["config"]["normalize_length"] for r in rows} == {None, "mean"}
    for row in rows:
        assert len(row["margins"]) == 9 and row["min_margin"] == min(row["margins"])
    best = max(rows, key=lambda r: r["min_margin"])
    assert selection["chosen"] == best["method"]
    assert report["config"]["finetune"]["epochs"] == best["config"]["finetune"]["epochs"]
    assert report["config"]["normalize_length"] == best["config"]["normalize_length"]
    assert isinstance(report["beats_lsa_everywhere"], bool) and "LSA-10" in report["verdict"]
    assert "Choosing settings" in done.stderr and "chosen:" in done.stderr
    assert 0 < report["select_seconds"] < report["total_seconds"]


def test_benchmark_refuses_bad_options(tmp_path):
    for argv, message in ((["--select", "--validate", "10"], "exclude each other"),
                          (["--validate", "-3"], "--validate"), (["--split-seed", "-1"], "--split-seed")):
        done = subprocess.run([sys.executable, str(SCRIPT), "--small", "--out", str(tmp_path), *argv],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]
