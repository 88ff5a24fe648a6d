"""Text utilities: fuzzy matching, regex escaping, version strings."""
from __future__ import annotations

from difflib import SequenceMatcher
from typing import Iterable, Iterator

from kombu import version_info_t

__all__ = ('escape_regex', 'fmatch_iter', 'fmatch_best', 'version_string_as_tuple')


def escape_regex(p: str, white: str = '') -> str:
    """Escape every non-alphanumeric character of ``p`` not listed in ``white``."""
    return ''.join(
        c if c.isalnum() or c in white else ('\\000' if c == '\000' else '\\' + c)
        for c in p)


def fmatch_iter(needle: str, haystack: Iterable[str],
                min_ratio: float = 0.6) -> Iterator[tuple[float, str]]:
    """Yield ``(ratio, key)`` for keys of ``haystack`` similar enough to ``needle``."""
    for key in haystack:
        ratio = SequenceMatcher(None, needle, key).ratio()
        if ratio >= min_ratio:
            yield ratio, key


def fmatch_best(needle: str, haystack: Iterable[str], min_ratio: float = 0.6) -> str | None:
    """Return the key of ``haystack`` most similar to ``needle`` (None if none is)."""
    best = max(fmatch_iter(needle, haystack, min_ratio), default=None)
    return best[1] if best else None


def version_string_as_tuple(s: str) -> version_info_t:
    """Parse ``'X.Y.Za1-40'`` into ``version_info_t(X, Y, Z, 'a1', '40')``."""
    parts = s.split('.')
    major, minor = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    micro_s = parts[2] if len(parts) > 2 else '0'
    releaselevel = parts[3] if len(parts) > 3 else ''
    serial = parts[4] if len(parts) > 4 else ''
    digits = len(micro_s) - len(micro_s.lstrip('0123456789'))
    if digits < len(micro_s):  # e.g. '3a1': the tail is the release level
        micro, releaselevel, serial = int(micro_s[:digits]), micro_s[digits:], releaselevel
    else:
        micro = int(micro_s or 0)
    if not serial and releaselevel and '-' in releaselevel:
        releaselevel, _, serial = releaselevel.partition('-')
    return version_info_t(major, minor, micro, releaselevel, serial)
