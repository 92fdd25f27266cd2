"""Reuters-21578: the SGML reader (on hand-written files), the ModApte split, the Porter stemmer,
tokenisation and bags of words, and the split sizes on the real collection when present."""
import gzip

import pytest
import torch

import pgmdbn
from pgmdbn.data.reuters import (ReutersData, bag_of_words, build_vocabulary, find_reuters_files, load_documents,
                                 load_reuters, modapte_split, parse_sgml, primary_topics, read_sgml_file, tokenize,
                                 topic_matrix)
from pgmdbn.data.stem import STOP_WORDS, stem

FILE_0 = """<!DOCTYPE lewis SYSTEM "lewis.dtd">
<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="5544" NEWID="1">
<DATE>26-FEB-1987 15:01:01.79</DATE>
<TOPICS><D>cocoa</D></TOPICS>
<PLACES><D>el-salvador</D></PLACES>
<UNKNOWN>&#5;&#5;&#5;C T</UNKNOWN>
<TEXT>&#2;
<TITLE>BAHIA COCOA &lt;REVIEW&gt;</TITLE>
<DATELINE>    SALVADOR, Feb 26 - </DATELINE><BODY>Showers continued in the cocoa zone, M&amp;A
relieving the drought. Cocoa exporters said prices rose.
 Reuter
&#3;</BODY></TEXT>
</REUTERS>
<REUTERS TOPICS="YES" LEWISSPLIT="TEST" CGISPLIT="TRAINING-SET" OLDID="5545" NEWID="2">
<TOPICS><D>grain</D><D>wheat</D></TOPICS>
<TEXT>
<TITLE>WHEAT EXPORTS RISE</TITLE>
<BODY>Wheat exports rose sharply, traders said. Caf\xe9 prices.</BODY></TEXT>
</REUTERS>
<REUTERS TOPICS="NO" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="5546" NEWID="3">
<TOPICS></TOPICS>
<TEXT TYPE="BRIEF">
<TITLE>SHORT NOTE</TITLE>
</TEXT>
</REUTERS>
"""

FILE_1 = """<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="1" NEWID="4">
<TOPICS></TOPICS>
<TEXT TYPE="UNPROC">&#2;
unprocessed wheat story about exports
&#3;</TEXT>
</REUTERS>
<REUTERS TOPICS="YES" LEWISSPLIT="NOT-USED" CGISPLIT="TRAINING-SET" OLDID="2" NEWID="5">
<TOPICS><D>earn</D></TOPICS>
<TEXT><TITLE>PROFIT UP</TITLE><BODY>Net profit rose.</BODY></TEXT>
</REUTERS>
<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="3" NEWID="6">
<TOPICS><D>wheat</D></TOPICS>
<TEXT><TITLE>WHEAT</TITLE><BODY>Wheat wheat exports, wheat prices.</BODY></TEXT>
</REUTERS>
"""


@pytest.fixture
def root(tmp_path):
    """A data root with reuters21578/ holding one plain and one gzipped file (latin-1)."""
    folder = tmp_path / "reuters21578"
    folder.mkdir()
    (folder / "reut2-000.sgm").write_bytes(FILE_0.encode("latin-1"))
    (folder / "reut2-001.sgm.gz").write_bytes(gzip.compress(FILE_1.encode("latin-1")))
    (folder / "lewis.dtd").write_text("<!-- not a data file -->")
    return tmp_path


def test_parser_reads_fields_and_decodes_entities(root):
    docs = load_documents(root)
    assert [d.id for d in docs] == [1, 2, 3, 4, 5, 6]
    first, second, brief, unproc = docs[:4]
    assert (first.split, first.has_topics, first.topics) == ("TRAIN", True, ("cocoa",))
    assert first.title == "BAHIA COCOA <REVIEW>"
    assert "M&A" in first.body and "&#" not in first.body and "\x03" not in first.body
    assert "SALVADOR" not in first.body  # the dateline is not part of the body
    assert second.topics == ("grain", "wheat") and second.split == "TEST"
    assert "Café" in second.body  # a latin-1 byte decodes instead of failing
    assert (brief.has_topics, brief.topics, brief.title, brief.body) == (False, (), "SHORT NOTE", "")
    assert unproc.body == "unprocessed wheat story about exports" and unproc.title == ""
    assert docs[4].split == "NOT-USED"


def test_files_are_found_by_argument_and_environment(root, monkeypatch):
    names = [p.name for p in find_reuters_files(root)]
    assert names == ["reut2-000.sgm", "reut2-001.sgm.gz"]
    assert [p.name for p in find_reuters_files(root / "reuters21578")] == names  # the folder itself
    monkeypatch.setenv("PGMDBN_DATA", str(root))
    assert [p.name for p in find_reuters_files()] == names
    with pytest.raises(pgmdbn.DataNotFound, match="PGMDBN_DATA"):
        find_reuters_files(root / "missing")
    empty = root / "empty"
    empty.mkdir()
    with pytest.raises(pgmdbn.DataNotFound, match="reut2-000"):
        find_reuters_files(empty)


def test_malformed_files_are_refused_with_the_file_named(tmp_path):
    unclosed = tmp_path / "reut2-000.sgm"
    unclosed.write_text(FILE_0.replace("</REUTERS>\n<REUTERS TOPICS=\"YES\" LEWISSPLIT=\"TEST\"",
                                       "\n<REUTERS TOPICS=\"YES\" LEWISSPLIT=\"TEST\"", 1), encoding="latin-1")
    with pytest.raises(pgmdbn.DataError, match=r"reut2-000\.sgm.*closed.*replace it"):
        read_sgml_file(unclosed)
    with pytest.raises(pgmdbn.DataError, match="no NEWID"):
        parse_sgml('<REUTERS LEWISSPLIT="TRAIN"><TEXT>x</TEXT></REUTERS>', "bad.sgm")
    with pytest.raises(pgmdbn.DataError, match="LEWISSPLIT 'MAYBE'"):
        parse_sgml('<REUTERS NEWID="1" LEWISSPLIT="MAYBE"></REUTERS>', "bad.sgm")
    with pytest.raises(pgmdbn.DataError, match="no <REUTERS> documents"):
        parse_sgml("just some text", "notes.sgm")
    broken = tmp_path / "reut2-001.sgm.gz"
    broken.write_bytes(b"this is not gzip")
    with pytest.raises(pgmdbn.DataError, match=r"reut2-001\.sgm\.gz.*corrupt"):
        read_sgml_file(broken)


def test_modapte_split_and_bags_of_words(root):
    docs = load_documents(root)
    train, test = modapte_split(docs, require_topic=False)
    assert [d.id for d in train] == [1, 4, 6] and [d.id for d in test] == [2]
    train, test = modapte_split(docs)  # only documents with topics
    assert [d.id for d in train] == [1, 6] and [d.id for d in test] == [2]
    data = load_reuters(root, vocab_size=3)
    assert data.vocab == ["wheat", "cocoa", "export"]  # wheat 4, cocoa 3, export 2 (= price 2, alphabetical)
    assert data.train_counts.tolist() == [[0, 3, 1], [4, 0, 1]] and data.train_counts.dtype == torch.float32
    assert data.test_counts.tolist() == [[2, 0, 2]]
    assert data.topic_names == ["cocoa", "grain", "wheat"]
    assert data.train_topics.tolist() == [[True, False, False], [False, False, True]]
    assert data.test_topics.tolist() == [[False, True, True]]
    assert data.test_primary.tolist() == [2]  # wheat is more frequent in training than grain
    assert data.train_ids.tolist() == [1, 6] and data.subset(1, 1).train_counts.shape == (1, 3)
    held = data.validation_split(1)  # the last training document queries the first
    assert held.train_ids.tolist() == [1] and held.test_ids.tolist() == [6] and held.vocab == data.vocab
    assert held.test_counts.tolist() == [[4, 0, 1]] and held.test_topics.tolist() == [[False, False, True]]
    with pytest.raises(ValueError, match="n must lie in 1..1"):
        data.validation_split(2)


def test_a_random_validation_split_is_seeded_and_disjoint():
    gen = torch.Generator().manual_seed(0)
    n = 50
    counts = torch.randint(0, 3, (n, 4), generator=gen).float()
    topics = torch.rand(n, 3, generator=gen) < 0.5
    ids = torch.arange(100, 100 + n)
    data = ReutersData(["a", "b", "c", "d"], ["x", "y", "z"], counts, counts[:2], topics, topics[:2],
                       topics.long().argmax(1), topics[:2].long().argmax(1), ids, ids[:2])
    held = data.validation_split(12, seed=3)
    assert len(held.test_ids) == 12 and len(held.train_ids) == 38
    assert set(held.test_ids.tolist()).isdisjoint(held.train_ids.tolist())
    assert sorted(held.test_ids.tolist() + held.train_ids.tolist()) == ids.tolist()
    assert held.test_ids.tolist() == sorted(held.test_ids.tolist())  # NEWID order kept
    rows = held.test_ids - 100
    assert torch.equal(held.test_counts, counts[rows]) and torch.equal(held.test_topics, topics[rows])
    assert torch.equal(data.validation_split(12, seed=3).test_ids, held.test_ids)
    assert not torch.equal(data.validation_split(12, seed=4).test_ids, held.test_ids)
    assert data.validation_split(12).test_ids.tolist() == ids[-12:].tolist()  # no seed: the last 12
    for bad in (-1, 1.5, True, "0"):
        with pytest.raises(ValueError, match="seed"):
            data.validation_split(12, seed=bad)
    for bad in (0, 50, 2.0, True):
        with pytest.raises(ValueError, match="n must lie"):
            data.validation_split(bad)


def test_tokenize_vocabulary_and_counts():
    tokens = tokenize("The Companies said: relational GENERALIZATIONS, a 3% rise in exports. Reuter")
    assert tokens == ["compani", "relat", "gener", "rise", "export"]
    assert build_vocabulary([["b", "a", "c"], ["a", "c"], ["d"]], size=3) == ["a", "c", "b"]
    counts = bag_of_words([["a", "b", "a", "z"], []], ["a", "b"])
    assert counts.tolist() == [[2.0, 1.0], [0.0, 0.0]]
    topics = topic_matrix(load_documents_stub(), ["x", "y"])
    assert topics.tolist() == [[True, True], [False, False]]
    assert primary_topics(topics, torch.tensor([5, 9])).tolist() == [1, -1]
    assert {"the", "and", "of"} <= STOP_WORDS


def load_documents_stub():
    return parse_sgml('<REUTERS NEWID="1" LEWISSPLIT="TRAIN"><TOPICS><D>y</D><D>x</D></TOPICS></REUTERS>'
                      '<REUTERS NEWID="2" LEWISSPLIT="TRAIN"><TOPICS><D>q</D></TOPICS></REUTERS>')


# Porter (1980): the paper's examples, step by step, and whole words through all steps
PORTER_PAIRS = {
    "caresses": "caress", "ponies": "poni", "ties": "ti", "caress": "caress", "cats": "cat",
    "feed": "feed", "agreed": "agre", "plastered": "plaster", "bled": "bled", "motoring": "motor", "sing": "sing",
    "conflated": "conflat", "troubled": "troubl", "sized": "size", "hopping": "hop", "tanned": "tan",
    "falling": "fall", "hissing": "hiss", "fizzed": "fizz", "failing": "fail", "filing": "file",
    "happy": "happi", "sky": "sky",
    "relational": "relat", "conditional": "condit", "rational": "ration", "digitizer": "digit",
    "operator": "oper", "feudalism": "feudal", "decisiveness": "decis", "hopefulness": "hope",
    "callousness": "callous", "formaliti": "formal", "sensitiviti": "sensit", "sensibiliti": "sensibl",
    "triplicate": "triplic", "formative": "form", "formalize": "formal", "electriciti": "electr",
    "electrical": "electr", "hopeful": "hope", "goodness": "good",
    "revival": "reviv", "allowance": "allow", "inference": "infer", "airliner": "airlin",
    "gyroscopic": "gyroscop", "adjustable": "adjust", "defensible": "defens", "irritant": "irrit",
    "replacement": "replac", "adjustment": "adjust", "dependent": "depend", "adoption": "adopt",
    "homologou": "homolog", "communism": "commun", "activate": "activ", "angulariti": "angular",
    "homologous": "homolog", "effective": "effect", "bowdlerize": "bowdler",
    "probate": "probat", "rate": "rate", "cease": "ceas", "controlling": "control", "roll": "roll",
    "generalizations": "gener", "oscillators": "oscil", "generalization": "gener",
    "connected": "connect", "connecting": "connect", "connection": "connect", "connections": "connect",
    "is": "is", "a": "a",
}


@pytest.mark.parametrize("word, expected", sorted(PORTER_PAIRS.items()))
def test_porter_stemmer(word, expected):
    assert stem(word) == expected


# --- the real collection -------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_documents():
    try:
        return load_documents()
    except pgmdbn.DataNotFound as e:
        pytest.skip(f"Reuters-21578 not found ($PGMDBN_DATA or ../shared/data/reuters21578): {e}")


def test_modapte_counts_on_the_real_collection(real_documents):
    assert len(real_documents) == 21578
    assert len({d.id for d in real_documents}) == 21578
    train, test = modapte_split(real_documents, require_topic=False)
    assert (len(train), len(test)) == (9603, 3299)  # ModApte: TOPICS="YES", LEWISSPLIT TRAIN / TEST
    train, test = modapte_split(real_documents)
    assert (len(train), len(test)) == (7775, 3019)  # with at least one topic


def test_bags_of_words_on_the_real_collection(real_documents):
    data = load_reuters()
    assert data.train_counts.shape == (7775, 2000) and data.test_counts.shape == (3019, 2000)
    assert len(data.vocab) == len(set(data.vocab)) == 2000
    assert (data.train_counts.sum(1) > 0).all() and (data.test_counts.sum(1) > 0).all()
    assert data.train_topics.any(1).all() and data.test_topics.any(1).all()
    assert {"earn", "acq", "crude", "grain"} <= set(data.topic_names)
    assert data.vocab[:3] == ["mln", "dlr", "vs"]


# Built both ways before pgmdbn's own Porter stemmer was replaced by snowballstemmer's "porter":
# the 2,000 most frequent ModApte training stems came out identical, in the same order (of the
# 24,813 distinct words of the training documents the two stemmers differed on one, "succed",
# which is not in the vocabulary). These are that vocabulary's size, ends and checksum.
OLD_STEMMER_VOCABULARY = {
    "first": ["mln", "dlr", "vs", "pct", "year", "ct", "net", "loss", "share", "billion", "compani", "bank"],
    "last": ["enforc", "enrol", "flag", "freez", "frozen"],
    "sha256": "99ca28429ad2b9b8e0812d3a9fa3a4b5495ea2516747c25d5e0e11a9b1274792",
}


def test_snowball_stemmer_gives_the_old_stemmers_vocabulary(real_documents):
    import hashlib

    vocab = load_reuters().vocab
    assert len(vocab) == 2000
    assert vocab[:12] == OLD_STEMMER_VOCABULARY["first"] and vocab[-5:] == OLD_STEMMER_VOCABULARY["last"]
    assert hashlib.sha256("\n".join(vocab).encode()).hexdigest() == OLD_STEMMER_VOCABULARY["sha256"]


def test_short_words_are_left_alone():
    assert [stem(w) for w in ("as", "is", "us", "a")] == ["as", "is", "us", "a"]
