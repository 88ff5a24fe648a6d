"""AMQP topic bindings and routing keys as PGMQ topic patterns and keys.

PGMQ routes ``send_topic`` in the server: a pattern's ``*`` is one word and its
``#`` any text between the surrounding dots, so ``a.#`` needs at least one word
after ``a`` where AMQP's ``#`` also matches none.  A binding is therefore bound
as every pattern its ``#`` words can collapse to (``a.#`` as ``a.#`` and ``a``).
Bindings are global in PGMQ: each exchange gets its own key prefix.

Keys and patterns PGMQ refuses (characters other than letters, digits, ``_``
and ``-`` in a word, empty words, wildcards inside a word, over 255
characters) are not translated: the channel routes those in the client.
"""
from __future__ import annotations

import itertools
import re

__all__ = ('server_key', 'server_patterns')

#: a word PGMQ accepts in routing keys and patterns.
_WORD = re.compile(r'[A-Za-z0-9_-]+')
#: PGMQ's length limit of keys and patterns.
MAX_LENGTH = 255
#: most ``#`` words a binding may have (each doubles the patterns bound).
MAX_HASHES = 3


def _plain_words(key: str) -> list[str] | None:
    words = key.split('.') if key else []
    return words if all(_WORD.fullmatch(w) for w in words) else None


def _joined(prefix: str, words: list[str]) -> str | None:
    text = '.'.join([prefix, *words])
    return text if len(text) <= MAX_LENGTH else None


def server_key(prefix: str, routing_key: str) -> str | None:
    """The PGMQ routing key of ``routing_key`` under ``prefix``; None if PGMQ refuses it."""
    words = _plain_words(routing_key)
    return None if words is None else _joined(prefix, words)


def server_patterns(prefix: str, binding_key: str) -> list[str] | None:
    """The PGMQ patterns that together match what AMQP's ``binding_key`` matches.

    None if a word is neither plain nor a whole wildcard, or if too many
    patterns would be needed.
    """
    words: list[str] = []
    for word in binding_key.split('.') if binding_key else []:
        if word == '#' and words and words[-1] == '#':
            continue   # '#.#' is '#'
        if word not in ('*', '#') and not _WORD.fullmatch(word):
            return None
        words.append(word)
    hashes = [i for i, word in enumerate(words) if word == '#']
    if len(hashes) > MAX_HASHES:
        return None
    patterns: list[str] = []
    # Each '#' is kept (one or more words) or dropped (no word at all).
    for dropped in itertools.product((False, True), repeat=len(hashes)):
        skip = {i for i, drop in zip(hashes, dropped) if drop}
        pattern = _joined(prefix, [w for i, w in enumerate(words) if i not in skip])
        if pattern is None:
            return None
        if pattern not in patterns:
            patterns.append(pattern)
    return patterns
