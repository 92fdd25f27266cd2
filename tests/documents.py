"""Synthetic word-count documents shared by the document-model tests."""
import torch


def topic_counts(docs: int, words: int, topics: int, lengths: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """Word counts of ``docs`` documents over ``words`` words, each drawn from one of ``topics``
    random topics with a length in ``lengths`` (inclusive): (docs, words) float32."""
    gen = torch.Generator().manual_seed(seed)
    mixtures = torch.softmax(3 * torch.randn(topics, words, generator=gen), -1)
    which = torch.randint(0, topics, (docs,), generator=gen)
    sizes = torch.randint(lengths[0], lengths[1] + 1, (docs,), generator=gen)
    rows = [torch.bincount(torch.multinomial(mixtures[k], int(n), replacement=True, generator=gen), minlength=words)
            for k, n in zip(which, sizes)]
    return torch.stack(rows).float()
