"""Reuters-21578 (Distribution 1.0): the SGML reader, the ModApte split and bags of word stems.

The 22 files ``reut2-000.sgm`` … ``reut2-021.sgm`` (plain or ``.gz``) are looked up in
``<root>/reuters21578``, ``<root>/reuters`` and ``<root>`` itself, where the root is resolved as
for MNIST (:func:`pgmdbn.data.data_dir`: an argument, ``$PGMDBN_DATA`` or ``../shared/data``).

Each ``<REUTERS …>`` element gives one :class:`ReutersDocument`: its ``NEWID``, ``LEWISSPLIT``
(TRAIN, TEST or NOT-USED), the ``TOPICS`` attribute, the topic codes of ``<TOPICS><D>…</D>``,
the ``<TITLE>`` and the ``<BODY>`` (for the TEXT TYPE="UNPROC" stories, which have no BODY, the
text of ``<TEXT>`` without its tags). Entities (``&lt;``, ``&amp;``, ``&#3;``) are decoded after
the tags are read; control characters become spaces. Files are decoded as latin-1, so stray
non-ASCII bytes (there are a few) never stop the reader.

The ModApte split (Apté et al. 1994): documents with ``TOPICS="YES"`` and ``LEWISSPLIT="TRAIN"``
(9,603) or ``"TEST"`` (3,299). For retrieval only the documents with at least one topic code are
kept (7,769 + 6 = 7,775 train, 3,019 test): a document without topics has no relevant neighbours.

Text to counts: lower-case alphabetic words (runs of a-z), without the stop words of
:mod:`pgmdbn.data.stem`, single letters and the newswire sign-off "reuter", Porter-stemmed;
the vocabulary is the ``vocab_size`` (2000) stems most frequent in the *training* documents
(by total count, ties alphabetical), and each document becomes its vector of counts over it.

Relevance for retrieval: each document keeps its whole topic set (``*_topics``, a multi-hot
bool matrix); two documents are relevant to each other when they share at least one topic.
``*_primary`` gives one label per document (its topic most frequent in the training set) for
colouring plots.
"""
from __future__ import annotations

import gzip
import os
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from pgmdbn.data.mnist import ENV_VAR, data_dir
from pgmdbn.data.stem import STOP_WORDS, stem
from pgmdbn.errors import DataError, DataNotFound

__all__ = ["ReutersDocument", "ReutersData", "find_reuters_files", "parse_sgml", "read_sgml_file",
           "load_documents", "modapte_split", "tokenize", "build_vocabulary", "bag_of_words", "topic_matrix",
           "primary_topics", "load_reuters", "SPLITS"]

SPLITS = ("TRAIN", "TEST", "NOT-USED")
_SUBFOLDERS = ("reuters21578", "reuters")
_FILE_PATTERN = re.compile(r"^reut2-\d{3}\.sgm(\.gz)?$")

_DOCUMENT = re.compile(r"<REUTERS\b([^>]*)>(.*?)</REUTERS>", re.S)
_OPENING = re.compile(r"<REUTERS\b")
_ATTRIBUTE = re.compile(r'([A-Za-z]+)\s*=\s*"([^"]*)"')
_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z]+);")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_TAG = re.compile(r"<[^>]*>")
_WORD = re.compile(r"[a-z]+")
# words every story carries, not about its subject: the "Reuter" sign-off
_BOILERPLATE = frozenset({"reuter"})


@dataclass(frozen=True)
class ReutersDocument:
    """One story: ``id`` (NEWID), ``split`` (LEWISSPLIT), ``has_topics`` (TOPICS="YES"),
    ``topics`` (codes in file order), ``title``, ``body`` (entities decoded)."""

    id: int
    split: str
    has_topics: bool
    topics: tuple[str, ...]
    title: str
    body: str

    @property
    def text(self) -> str:
        """Title and body, the text that is tokenised."""
        return f"{self.title}\n{self.body}"


@dataclass
class ReutersData:
    """The ModApte bags of words.

    ``train_counts`` / ``test_counts``: float32 (n, vocab_size) word counts; ``*_topics``: bool
    (n, n_topics) topic sets over ``topic_names``; ``*_primary``: int64 (n,) one topic index per
    document (-1 without topics); ``*_ids``: NEWIDs; ``vocab``: the stems of the columns.
    """

    vocab: list[str]
    topic_names: list[str]
    train_counts: torch.Tensor
    test_counts: torch.Tensor
    train_topics: torch.Tensor
    test_topics: torch.Tensor
    train_primary: torch.Tensor
    test_primary: torch.Tensor
    train_ids: torch.Tensor
    test_ids: torch.Tensor

    def validation_split(self, n: int, seed: int | None = None) -> ReutersData:
        """``n`` training documents as the test side and the rest as the training side, for
        choosing settings without looking at the test documents (vocabulary unchanged: it comes
        from the training documents alone). ``seed`` None: the last ``n`` (the latest by NEWID);
        an int: ``n`` drawn at random (seeded), both sides kept in NEWID order. The latest
        documents are not a sample of the training set (of the last 1,500, 30% are "earn"
        against 37% of all), a random draw is."""
        if isinstance(n, bool) or not isinstance(n, int) or not 0 < n < len(self.train_counts):
            raise ValueError(f"n must lie in 1..{len(self.train_counts) - 1}, got {n!r}")
        k = len(self.train_counts) - n
        if seed is None:
            keep, held = torch.arange(k), torch.arange(k, len(self.train_counts))
        else:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
            order = torch.randperm(len(self.train_counts), generator=torch.Generator().manual_seed(seed))
            keep, held = order[:k].sort().values, order[k:].sort().values
        return ReutersData(self.vocab, self.topic_names, self.train_counts[keep], self.train_counts[held],
                           self.train_topics[keep], self.train_topics[held], self.train_primary[keep],
                           self.train_primary[held], self.train_ids[keep], self.train_ids[held])

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> ReutersData:
        """The first ``n_train`` training and ``n_test`` test documents (vocabulary unchanged)."""
        tr, te = slice(None, n_train), slice(None, n_test)
        return ReutersData(self.vocab, self.topic_names, self.train_counts[tr], self.test_counts[te],
                           self.train_topics[tr], self.test_topics[te], self.train_primary[tr],
                           self.test_primary[te], self.train_ids[tr], self.test_ids[te])


# --- reading the SGML ---------------------------------------------------------------------

def _decode_entities(text: str) -> str:
    """Replace &name; and &#n; by their characters; control characters become spaces."""
    def one(match):
        name = match.group(1)
        if name[0] != "#":
            return _NAMED_ENTITIES.get(name.lower(), match.group(0))
        code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
        return chr(code) if code >= 32 and code != 127 and code < 0x110000 else " "
    return _ENTITY.sub(one, text)


def _element(content: str, tag: str) -> str | None:
    """The raw text inside the first <tag>…</tag>, or None."""
    match = re.search(rf"<{tag}\b[^>]*>(.*?)</{tag}>", content, re.S)
    return None if match is None else match.group(1)


def _main_text(content: str) -> str:
    """The story text: <BODY>, else <TEXT> without its TITLE/DATELINE/AUTHOR (UNPROC stories)."""
    body = _element(content, "BODY")
    if body is not None:
        return body
    text = _element(content, "TEXT") or ""
    for tag in ("TITLE", "DATELINE", "AUTHOR"):
        text = re.sub(rf"<{tag}\b[^>]*>.*?</{tag}>", " ", text, flags=re.S)
    return _TAG.sub(" ", text)


def _document(attributes: str, content: str, source: str, position: int) -> ReutersDocument:
    """One document from the attribute string and the content of a <REUTERS> element."""
    attrs = dict(_ATTRIBUTE.findall(attributes))
    where = f"{source}: document {position + 1}"
    for key in ("NEWID", "LEWISSPLIT"):
        if key not in attrs:
            raise DataError(f"{where} has no {key} attribute (attributes: {attributes.strip()!r}); "
                            f"the file is not Reuters-21578 SGML or is damaged: replace it with the original")
    if not attrs["NEWID"].isdigit():
        raise DataError(f"{where}: NEWID {attrs['NEWID']!r} is not a number; replace the file with the original")
    if attrs["LEWISSPLIT"] not in SPLITS:
        raise DataError(f"{where} (NEWID {attrs['NEWID']}): LEWISSPLIT {attrs['LEWISSPLIT']!r} is not one of "
                        f"{', '.join(SPLITS)}; replace the file with the original")
    topics_block = _element(content, "TOPICS") or ""
    topics = tuple(_decode_entities(t).strip() for t in re.findall(r"<D>(.*?)</D>", topics_block, re.S))
    title = _element(content, "TITLE") or ""
    return ReutersDocument(id=int(attrs["NEWID"]), split=attrs["LEWISSPLIT"],
                           has_topics=attrs.get("TOPICS", "YES") == "YES", topics=topics,
                           title=_decode_entities(title).strip(), body=_decode_entities(_main_text(content)).strip())


def parse_sgml(text: str, source: str = "<string>") -> list[ReutersDocument]:
    """The documents of one Reuters-21578 SGML file's text; ``source`` names it in errors.

    Raises ``DataError`` when the file holds no <REUTERS> element, when an element is not
    closed, or when one lacks NEWID or LEWISSPLIT."""
    matches = list(_DOCUMENT.finditer(text))
    openings = len(_OPENING.findall(text))
    if openings == 0:
        raise DataError(f"{source}: no <REUTERS> documents found; is it a Reuters-21578 SGML file "
                        f"(reut2-NNN.sgm)? Replace it with the original")
    if openings != len(matches):
        ended = sum(1 for _ in matches)
        raise DataError(f"{source}: {openings} <REUTERS> elements open but {ended} are closed by </REUTERS>; "
                        f"the file is truncated or damaged: replace it with the original")
    return [_document(m.group(1), m.group(2), source, i) for i, m in enumerate(matches)]


def read_sgml_file(path: str | os.PathLike) -> list[ReutersDocument]:
    """The documents of one ``reut2-NNN.sgm`` or ``.sgm.gz`` file (decoded as latin-1)."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read it ({e}); the file is corrupt or truncated: replace it with "
                        f"the original") from e
    return parse_sgml(raw.decode("latin-1"), str(path))


def find_reuters_files(root: str | os.PathLike | None = None) -> list[Path]:
    """The 22 SGML files, in order, from the data root (see the module docstring).

    Raises ``DataNotFound`` naming the folders tried when there are none."""
    base = data_dir(root)
    tried = []
    for folder in [base / sub for sub in _SUBFOLDERS] + [base]:
        tried.append(str(folder))
        if folder.is_dir():
            files = sorted(p for p in folder.iterdir() if _FILE_PATTERN.match(p.name))
            if files:
                return _one_per_number(files)
    raise DataNotFound(f"Reuters-21578 files reut2-000.sgm[.gz] … reut2-021.sgm[.gz] not found; tried "
                       f"{', '.join(tried)}: set the {ENV_VAR} environment variable or pass a path to the "
                       f"folder that holds reuters21578/")


def _one_per_number(files: list[Path]) -> list[Path]:
    """Keep one file per reut2-NNN, preferring the uncompressed one when both are there."""
    chosen = {}
    for path in files:
        number = path.name[:9]
        if number not in chosen or path.suffix != ".gz":
            chosen[number] = path
    return [chosen[k] for k in sorted(chosen)]


def load_documents(root: str | os.PathLike | None = None) -> list[ReutersDocument]:
    """Every document of the collection (21,578 in the full distribution), in file order."""
    return [doc for path in find_reuters_files(root) for doc in read_sgml_file(path)]


def modapte_split(docs, require_topic: bool = True) -> tuple[list[ReutersDocument], list[ReutersDocument]]:
    """(train, test) of the ModApte split: TOPICS="YES" and LEWISSPLIT TRAIN / TEST; with
    ``require_topic`` only documents with at least one topic code."""
    def keep(doc, split):
        return doc.has_topics and doc.split == split and (bool(doc.topics) or not require_topic)
    return [d for d in docs if keep(d, "TRAIN")], [d for d in docs if keep(d, "TEST")]


# --- words, vocabulary, counts -------------------------------------------------------------

def tokenize(text: str) -> list[str]:
    """Porter stems of the lower-case alphabetic words of ``text``, without stop words, single
    letters and the "reuter" sign-off."""
    stems = (stem(w) for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in STOP_WORDS)
    return [s for s in stems if s not in _BOILERPLATE]


def build_vocabulary(token_lists, size: int = 2000) -> list[str]:
    """The ``size`` most frequent tokens over all lists (total count; ties alphabetical)."""
    if size < 1:
        raise ValueError(f"vocabulary size must be positive, got {size}")
    counts = Counter(t for tokens in token_lists for t in tokens)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [word for word, _ in ranked[:size]]


def bag_of_words(token_lists, vocab: list[str]) -> torch.Tensor:
    """float32 (n_documents, len(vocab)) counts of the vocabulary's words; others are dropped."""
    index = {word: j for j, word in enumerate(vocab)}
    rows, cols = [], []
    for i, tokens in enumerate(token_lists):
        for t in tokens:
            j = index.get(t)
            if j is not None:
                rows.append(i)
                cols.append(j)
    counts = torch.zeros(len(token_lists), len(vocab))
    if rows:
        counts.index_put_((torch.tensor(rows), torch.tensor(cols)), torch.ones(len(rows)), accumulate=True)
    return counts


def topic_matrix(docs, topic_names: list[str]) -> torch.Tensor:
    """bool (n_documents, n_topics): which of ``topic_names`` each document carries."""
    index = {t: j for j, t in enumerate(topic_names)}
    out = torch.zeros(len(docs), len(topic_names), dtype=torch.bool)
    for i, doc in enumerate(docs):
        for t in doc.topics:
            if t in index:
                out[i, index[t]] = True
    return out


def primary_topics(topics: torch.Tensor, frequency: torch.Tensor) -> torch.Tensor:
    """int64 (n,): each row's topic with the highest ``frequency`` (n_topics,), -1 for none."""
    scores = torch.where(topics, frequency.double()[None, :] + 1, torch.zeros((), dtype=torch.float64))
    best = scores.argmax(1)
    return torch.where(topics.any(1), best, torch.full_like(best, -1))


def load_reuters(root: str | os.PathLike | None = None, vocab_size: int = 2000,
                 require_topic: bool = True) -> ReutersData:
    """The ModApte training and test documents as bags of ``vocab_size`` stems (see the module
    docstring). Topics are those of any kept document, sorted; the vocabulary comes from the
    training documents alone."""
    train_docs, test_docs = modapte_split(load_documents(root), require_topic)
    train_tokens = [tokenize(d.text) for d in train_docs]
    test_tokens = [tokenize(d.text) for d in test_docs]
    vocab = build_vocabulary(train_tokens, vocab_size)
    names = sorted({t for d in train_docs + test_docs for t in d.topics})
    train_topics, test_topics = topic_matrix(train_docs, names), topic_matrix(test_docs, names)
    frequency = train_topics.sum(0)
    return ReutersData(
        vocab=vocab, topic_names=names,
        train_counts=bag_of_words(train_tokens, vocab), test_counts=bag_of_words(test_tokens, vocab),
        train_topics=train_topics, test_topics=test_topics,
        train_primary=primary_topics(train_topics, frequency), test_primary=primary_topics(test_topics, frequency),
        train_ids=torch.tensor([d.id for d in train_docs]), test_ids=torch.tensor([d.id for d in test_docs]))
