"""Text/bytes conversion helpers that never raise on odd input."""
from __future__ import annotations

import sys
import traceback
from typing import IO, Any, AnyStr

__all__ = (
    'set_default_encoding_file', 'get_default_encoding_file', 'default_encoding',
    'str_to_bytes', 'bytes_to_str', 'from_utf8', 'ensure_bytes', 'default_encode',
    'safe_str', 'safe_repr', 'str_t', 'bytes_t',
)

str_t = str
bytes_t = bytes

#: File whose encoding is used by :func:`default_encoding` (None: stdout's).
default_encoding_file: IO[Any] | None = None


def set_default_encoding_file(file: IO[Any] | None) -> None:
    """Set the file used to guess the default text encoding."""
    global default_encoding_file
    default_encoding_file = file


def get_default_encoding_file() -> IO[Any] | None:
    """Return the file used to guess the default text encoding."""
    return default_encoding_file


def default_encoding(file: IO[Any] | None = None) -> str:
    """Return the file system encoding (the only sane default on Python 3)."""
    return sys.getfilesystemencoding()


def str_to_bytes(s: Any) -> Any:
    """Encode ``str`` to UTF-8 ``bytes``; anything else is returned as is."""
    if isinstance(s, str):
        return s.encode()
    return s


#: Alias of :func:`str_to_bytes`.
ensure_bytes = str_to_bytes


def bytes_to_str(s: Any) -> Any:
    """Decode ``bytes`` as UTF-8 (replacing bad bytes); anything else as is."""
    if isinstance(s, bytes):
        return s.decode(errors='replace')
    return s


def from_utf8(s: AnyStr, *args: Any, **kwargs: Any) -> AnyStr:
    """No-op kept for API compatibility (Python 2 era)."""
    return s


def default_encode(obj: Any) -> Any:
    """No-op kept for API compatibility (Python 2 era)."""
    return obj


def _safe_str(s: Any, errors: str = 'replace', file: IO[Any] | None = None) -> str:
    if isinstance(s, str):
        return s
    try:
        return str(s)
    except Exception as exc:
        return '<Unrepresentable {!r}: {!r} {!r}>'.format(
            type(s), exc, '\n'.join(traceback.format_stack()))


def safe_str(s: Any, errors: str = 'replace') -> str:
    """Return ``s`` as text without ever raising (bytes are decoded)."""
    s = bytes_to_str(s)
    if not isinstance(s, (str, bytes)):
        return safe_repr(s, errors)
    return _safe_str(s, errors)


def safe_repr(o: Any, errors: str = 'replace') -> str:
    """Return ``repr(o)``, or a placeholder if ``__repr__`` itself fails."""
    try:
        return repr(o)
    except Exception:
        return _safe_str(o, errors)
