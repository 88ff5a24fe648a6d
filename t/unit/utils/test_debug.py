from __future__ import annotations

import logging

from kombu.utils.debug import Logwrapped, setup_logging


class Target:
    value = 3

    def add(self, a, b=0):
        return a + b


def test_logwrapped_logs_calls(caplog):
    logger = logging.getLogger('t.debug')
    w = Logwrapped(Target(), logger, ident='[{0.value}] ')
    with caplog.at_level(logging.DEBUG, logger='t.debug'):
        assert w.add(1, b=2) == 3
    assert caplog.records[-1].getMessage() == '[3] add(1, b=2)'
    assert w.value == 3
    assert 'add' in dir(w)
    assert repr(w) == repr(w.instance)


def test_setup_logging():
    name = 't.debug.setup'
    logger = logging.getLogger(name)
    try:
        setup_logging(logging.INFO, [name])
        assert logger.level == logging.INFO
        assert logger.handlers
    finally:
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
