from __future__ import annotations

import pytest

from kombu.asynchronous import ERR, READ, WRITE, Hub
from kombu.asynchronous.debug import (
    callback_for,
    repr_active,
    repr_events,
    repr_flag,
    repr_readers,
    repr_writers,
)


def test_repr_flag():
    assert repr_flag(READ) == 'R'
    assert repr_flag(WRITE | ERR) == 'W!'
    assert repr_flag(READ | WRITE | ERR) == 'RW!'
    assert repr_flag(0) == ''


@pytest.fixture
def hub():
    h = Hub()
    yield h
    h.close()


def test_readers_writers_and_callback_for(hub, pair):
    a, b = pair

    def on_write():
        pass

    hub.add_writer(b, on_write)
    hub.add(a, None, WRITE | ERR, consolidate=True)
    hub.consolidate_callback = print
    assert repr_writers(hub) == [f'({b.fileno()})on_write()->W', f'({a.fileno()})<missing>->W']
    assert repr_readers(hub) == []
    assert repr_active(hub).startswith(f'({b.fileno()})on_write()')
    assert callback_for(hub, a.fileno(), WRITE) is print
    assert callback_for(hub, b.fileno(), WRITE) == (on_write, ())
    with pytest.raises(KeyError):
        callback_for(hub, 999, READ)
    assert callback_for(hub, 999, READ, 'gone') == 'gone'
    assert repr_events(hub, [(999, READ)]).startswith('(GONE)(999)')
