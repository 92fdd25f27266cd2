"""The Porter stemmer (M. F. Porter, "An algorithm for suffix stripping", Program 14(3), 1980)
and a small English stop-word list, for turning text into bags of word stems.

The stemmer follows the 1980 paper's five steps as published (so ``ABLI`` goes to ``ABLE``,
not the later reference code's ``BLI`` → ``BLE``, and there is no ``LOGI`` rule). Words are
expected in lower case, letters a-z only; words of one or two letters are returned as they are.

Terms of the paper: a *consonant* is a letter other than a, e, i, o, u, and other than a y
that follows a consonant. A word is [C](VC)^m[V] for runs C of consonants and V of vowels,
and m is its *measure*. ``*v*``: the stem holds a vowel; ``*d``: it ends in a double
consonant; ``*o``: it ends consonant-vowel-consonant with the last not w, x or y.
"""
from __future__ import annotations

from functools import lru_cache

__all__ = ["stem", "STOP_WORDS", "is_stop_word"]

_VOWELS = frozenset("aeiou")


def _is_consonant(word: str, i: int) -> bool:
    """Whether word[i] is a consonant in Porter's sense (y after a consonant is a vowel)."""
    letter = word[i]
    if letter in _VOWELS:
        return False
    if letter == "y":
        return i == 0 or not _is_consonant(word, i - 1)
    return True


def _measure(stem: str) -> int:
    """m in [C](VC)^m[V]: the number of vowel-run → consonant-run transitions."""
    m, previous_vowel = 0, False
    for i in range(len(stem)):
        consonant = _is_consonant(stem, i)
        if consonant and previous_vowel:
            m += 1
        previous_vowel = not consonant
    return m


def _has_vowel(stem: str) -> bool:
    """*v*: the stem contains a vowel."""
    return any(not _is_consonant(stem, i) for i in range(len(stem)))


def _ends_double_consonant(stem: str) -> bool:
    """*d: the stem ends with two equal consonants."""
    return len(stem) >= 2 and stem[-1] == stem[-2] and _is_consonant(stem, len(stem) - 1)


def _ends_cvc(stem: str) -> bool:
    """*o: the stem ends consonant-vowel-consonant, the last consonant not w, x or y
    (hop, fil — where a removed e is put back)."""
    if len(stem) < 3:
        return False
    n = len(stem)
    return (_is_consonant(stem, n - 3) and not _is_consonant(stem, n - 2) and _is_consonant(stem, n - 1)
            and stem[-1] not in "wxy")


def _replace_longest(word: str, rules, min_measure: int) -> str:
    """Apply the rule of the longest matching suffix if the rest has measure > min_measure.
    Only that rule is tried: when its condition fails, the word stays as it is (the paper's
    convention for steps 2 to 4)."""
    for suffix, replacement in rules:  # rules are sorted longest suffix first
        if word.endswith(suffix):
            rest = word[: len(word) - len(suffix)]
            return rest + replacement if _measure(rest) > min_measure else word
    return word


def _step1a(word: str) -> str:
    """Plurals: sses → ss, ies → i, ss → ss, s → (nothing)."""
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("ies"):
        return word[:-2]
    if word.endswith("ss"):
        return word
    if word.endswith("s"):
        return word[:-1]
    return word


def _tidy_after_1b(stem: str) -> str:
    """After removing -ed or -ing: restore an e (conflat → conflate, fil → file) or undouble a
    final consonant (hopp → hop), but keep ll, ss, zz (fall, hiss, fizz)."""
    for suffix, replacement in (("at", "ate"), ("bl", "ble"), ("iz", "ize")):
        if stem.endswith(suffix):
            return stem[: -len(suffix)] + replacement
    if _ends_double_consonant(stem) and stem[-1] not in "lsz":
        return stem[:-1]
    if _measure(stem) == 1 and _ends_cvc(stem):
        return stem + "e"
    return stem


def _step1b(word: str) -> str:
    """Past tenses and gerunds: (m>0) eed → ee; (*v*) ed → ; (*v*) ing → ."""
    if word.endswith("eed"):
        return word[:-1] if _measure(word[:-3]) > 0 else word
    for suffix in ("ed", "ing"):
        if word.endswith(suffix):
            stem = word[: -len(suffix)]
            return _tidy_after_1b(stem) if _has_vowel(stem) else word
    return word


def _step1c(word: str) -> str:
    """(*v*) y → i (happy → happi; sky stays)."""
    if word.endswith("y") and _has_vowel(word[:-1]):
        return word[:-1] + "i"
    return word


def _by_length(pairs):
    return tuple(sorted(pairs, key=lambda p: -len(p[0])))


_STEP2 = _by_length([
    ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"),
    ("abli", "able"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"),
    ("ization", "ize"), ("ation", "ate"), ("ator", "ate"), ("alism", "al"), ("iveness", "ive"),
    ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"),
])
_STEP3 = _by_length([
    ("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""), ("ness", ""),
])
_STEP4 = _by_length([(s, "") for s in (
    "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism",
    "ate", "iti", "ous", "ive", "ize")])


def _step4(word: str) -> str:
    """(m>1) drop a suffix of the list; -ion only after s or t (adoption → adopt)."""
    for suffix, _ in _STEP4:
        if word.endswith(suffix):
            rest = word[: -len(suffix)]
            if suffix == "ion" and not rest.endswith(("s", "t")):
                return word
            return rest if _measure(rest) > 1 else word
    return word


def _step5(word: str) -> str:
    """(m>1) e → ; (m=1 and not *o) e → ; (m>1 and *d and *l) ll → l."""
    if word.endswith("e"):
        rest = word[:-1]
        m = _measure(rest)
        if m > 1 or (m == 1 and not _ends_cvc(rest)):
            word = rest
    if word.endswith("ll") and _measure(word) > 1:
        word = word[:-1]
    return word


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The Porter stem of a lower-case word: ``stem("generalizations") == "gener"``.

    Cached: a corpus repeats its words, so each distinct word is stemmed once."""
    if len(word) <= 2:
        return word
    word = _step1a(word)
    word = _step1b(word)
    word = _step1c(word)
    word = _replace_longest(word, _STEP2, 0)
    word = _replace_longest(word, _STEP3, 0)
    word = _step4(word)
    return _step5(word)


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
