"""Word stems for bags of words: the Porter stemmer of the ``snowballstemmer`` package
("porter", M. F. Porter 1980) and a small English stop-word list.

Words are expected in lower case; words of one or two letters are returned as they are (the
stemmer would turn "as" into "a"). On the ModApte training documents of Reuters-21578 this
gives the same 2,000-stem vocabulary as the stemmer pgmdbn carried before (tests/test_reuters.py).
"""
from __future__ import annotations

from functools import lru_cache

import snowballstemmer

__all__ = ["stem", "STOP_WORDS", "is_stop_word"]

_PORTER = snowballstemmer.stemmer("porter")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The Porter stem of a lower-case word: ``stem("generalizations") == "gener"``.

    Cached: a corpus repeats its words, so each distinct word is stemmed once."""
    if len(word) <= 2:
        return word
    return _PORTER.stemWord(word)


# Function words that carry no topic: articles, pronouns, auxiliaries, prepositions,
# conjunctions and a few very common adverbs.
STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself no nor not now of off on once only or other our ours ourselves out over
own same she should so some such than that the their theirs them themselves then there these
they this those through to too under until up very was we were what when where which while who
whom why will with would you your yours yourself yourselves may might must shall upon whether
however yet said says mr mrs ms one two three
""".split())


def is_stop_word(word: str) -> bool:
    """Whether a lower-case word is in ``STOP_WORDS``."""
    return word in STOP_WORDS
