"""ErrorTranslator: declared classes, content-based refinement, pass-through."""
from __future__ import annotations

import pytest

from kombu.exceptions import AccessRefused, ChannelError, ConnectionError, LimitExceeded
from kombu.transport.virtual.errors import ErrorTranslator


class LibError(Exception):
    def __init__(self, text: str, status: int = 0) -> None:
        super().__init__(text)
        self.status = status


class LibTimeout(LibError):
    pass


class LibAuth(LibError):
    pass


def _by_status(exc: BaseException) -> str | None:
    status = getattr(exc, 'status', 0)
    return {503: 'connection', 413: 'limit'}.get(status)


errors = ErrorTranslator('lib', connection=(LibTimeout,), auth=(LibAuth,),
                         channel=(LibError,), classify=_by_status)


@pytest.mark.parametrize('raised, kind', [
    (LibTimeout('slow'), ConnectionError),
    (LibAuth('who are you'), AccessRefused),
    (LibError('bad request', 400), ChannelError),
    (LibError('busy', 503), ConnectionError),     # refined by classify
    (LibError('too big', 413), LimitExceeded),
])
def test_kinds(raised, kind):
    with pytest.raises(kind) as info:
        with errors('send', 'q'):
            raise raised
    assert info.value.__cause__ is raised
    assert str(info.value).startswith("lib send 'q': ")


def test_undeclared_and_kombu_errors_pass_through():
    with pytest.raises(KeyError):
        with errors('get'):
            raise KeyError('x')
    original = ChannelError('already ours')
    with pytest.raises(ChannelError) as info:
        with errors('get'):
            raise original
    assert info.value is original


def test_classify_must_name_a_kind():
    bad = ErrorTranslator('lib', channel=(LibError,), classify=lambda exc: 'weird')
    with pytest.raises(ValueError, match='weird'):
        bad.translate(LibError('x'))
