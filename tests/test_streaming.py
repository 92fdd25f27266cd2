"""Training and estimation from a Dataset, a DataLoader or any iterable of batches: the same
batches give the same results as the in-memory tensor path, and a memory-mapped .npy file
trains without being loaded."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

import pgmdbn
from pgmdbn.finetune.autoencoder import fine_tune, unroll
from pgmdbn.finetune.classifier import to_classifier, train_classifier
from pgmdbn.training.trainers import is_stream


class NpyRows(Dataset):
    """The rows of a memory-mapped .npy file, read one at a time (never the whole file)."""

    def __init__(self, path):
        self.array = np.load(path, mmap_mode="r")

    def __len__(self):
        return len(self.array)

    def __getitem__(self, i):
        return torch.from_numpy(np.array(self.array[i], dtype=np.float32))


class LoopOrder(Sampler):
    """Batches of row indices in the order the training loop's tensor path takes them: epoch e
    is the permutation seeded by seed * 1_000_003 + e, cut into batches."""

    def __init__(self, n, batch_size, seed=0):
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, 0

    def __iter__(self):
        rows = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch))
        self.epoch += 1
        return iter([rows[b:b + self.batch_size].tolist() for b in range(0, self.n, self.batch_size)])

    def __len__(self):
        return -(-self.n // self.batch_size)


@pytest.fixture
def digits(tmp_path):
    x = (torch.rand(90, 16, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    path = tmp_path / "rows.npy"
    np.save(path, x.numpy())
    return x, path


@pytest.mark.parametrize("method", ["cd", "pcd"])
def test_memory_mapped_loader_matches_the_tensor_path(digits, method, device):
    x, path = digits  # the loader's batches are read on the CPU and moved to the training device
    options = dict(method=method, epochs=3, batch_size=20, lr=0.1, seed=0, progress=False, init_from_data=False,
                   monitor_size=0, device=device)
    in_memory = pgmdbn.rbm(16, 6, seed=3)
    a = pgmdbn.fit(in_memory, x, **options)
    loader = DataLoader(NpyRows(path), batch_sampler=LoopOrder(len(x), 20, seed=0))
    streamed = pgmdbn.rbm(16, 6, seed=3)
    b = pgmdbn.fit(streamed, loader, **options)
    for (name, p), q in zip(in_memory.named_parameters(), streamed.parameters()):
        assert torch.equal(p, q), name
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert not torch.equal(in_memory.weight("v", "h").cpu(), pgmdbn.rbm(16, 6, seed=3).weight("v", "h"))  # trained


def test_a_dataset_a_list_of_batches_and_tensor_dataset_loaders_train(digits):
    x, path = digits
    for data in (NpyRows(path), [x[:45], x[45:]], DataLoader(TensorDataset(x), batch_size=30),
                 [{"v": x[:45]}, {"v": x[45:]}]):
        assert is_stream(data)
        model = pgmdbn.rbm(16, 6, seed=3)
        result = pgmdbn.fit(model, data, epochs=2, batch_size=30, lr=0.1, progress=False, monitor_size=40)
        assert len(result.history) == 2 and "recon_error" in result.history[-1]
        assert model.layer("v").bias.abs().sum() > 0  # base rates from the first rows
    assert not is_stream(x) and not is_stream(x.tolist()) and not is_stream({"v": x})


def test_log_likelihood_over_batches_equals_the_whole(digits):
    x, path = digits
    model = pgmdbn.rbm(16, 6, seed=3)
    whole = pgmdbn.log_likelihood(model, x, method="exact")
    parts = pgmdbn.log_likelihood(model, DataLoader(NpyRows(path), batch_size=25), method="exact")
    torch.testing.assert_close(parts.per_example, whole.per_example)
    assert parts.mean == pytest.approx(whole.mean) and parts.kind == whole.kind


def test_finetuning_loops_take_batches_with_equal_results():
    x = torch.rand(60, 16, generator=torch.Generator().manual_seed(0))
    y = torch.arange(60) % 3
    model = pgmdbn.dbn([16, 8, 6], seed=0)

    nets = [to_classifier(model, 3, seed=0) for _ in range(2)]
    recipe = dict(epochs=2, lr=0.1, batch_size=20, seed=0, progress=False)
    train_classifier(nets[0], x, y, **recipe)
    train_classifier(nets[1], DataLoader(TensorDataset(x, y), batch_sampler=LoopOrder(60, 20, seed=0)), None,
                     **recipe)
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        assert torch.equal(p, q)
    aes = [unroll(model) for _ in range(2)]
    fine_tune(aes[0], x, epochs=2, batch_size=20, seed=0, progress=False)
    fine_tune(aes[1], DataLoader(TensorDataset(x), batch_sampler=LoopOrder(60, 20, seed=0)), epochs=2,
              batch_size=20, seed=0, progress=False)
    for p, q in zip(aes[0].parameters(), aes[1].parameters()):
        assert torch.equal(p, q)
