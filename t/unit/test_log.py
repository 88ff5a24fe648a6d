from __future__ import annotations

import io
import logging

import pytest

from kombu import log
from kombu.log import (
    LOG_LEVELS,
    Log,
    LogMixin,
    get_logger,
    get_loglevel,
    naive_format_parts,
    safeify_format,
    setup_logging,
)
from kombu.utils.functional import lazy


class BadRepr:
    def __repr__(self):
        raise RuntimeError('boom')

    __str__ = __repr__


def test_levels():
    assert LOG_LEVELS['INFO'] == logging.INFO and LOG_LEVELS[logging.INFO] == 'INFO'
    assert LOG_LEVELS['FATAL'] == logging.FATAL
    assert get_loglevel('DEBUG') == logging.DEBUG and get_loglevel(5) == 5
    with pytest.raises(KeyError):
        get_loglevel('NOPE')


def test_get_logger_adds_null_handler_once():
    logger = get_logger('t.log.fresh')
    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)
    assert get_logger(logger) is logger and len(logger.handlers) == 1


def test_naive_format_parts():
    assert list(naive_format_parts('%s and %r %% %5.2f %(k)s %*d')) == \
        ['s', 'r', 'f', 's', None, 'd']


def test_safeify_format():
    out = list(safeify_format('%s %r %d', [BadRepr(), BadRepr(), 3]))
    assert '<Unrepresentable' in out[0] and '<Unrepresentable' in out[1] and out[2] == 3
    assert list(safeify_format('%s', ['a', 'extra'])) == ['a', 'extra']


class Thing(LogMixin):
    pass


def test_logmixin(caplog):
    t = Thing()
    assert t.logger_name == 'Thing' and t.logger.name == 'Thing'
    with caplog.at_level(logging.DEBUG, logger='Thing'):
        t.debug('hello %s %r', lazy(lambda: 'lazy'), 'q')
        t.info(3, 'plain', 'words')
        t.warn('bad %r', BadRepr())
        try:
            raise ValueError('x')
        except ValueError:
            t.error('failed %s', 1)
        assert t.is_enabled_for('DEBUG') is True
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "Thing - hello lazy 'q'"
    assert messages[1] == 'Thing - 3 plain words'
    assert messages[2].startswith('Thing - bad <Unrepresentable')
    assert caplog.records[3].exc_info is not None
    assert t.get_loglevel('ERROR') == logging.ERROR


def test_logmixin_disabled_level_does_nothing():
    t = Thing()
    t.logger.setLevel(logging.ERROR)
    try:
        assert t.debug('x %s', BadRepr()) is None
    finally:
        t.logger.setLevel(logging.NOTSET)


def test_disable_tracebacks(caplog, monkeypatch):
    monkeypatch.setattr(log, 'DISABLE_TRACEBACKS', '1')
    with caplog.at_level(logging.DEBUG, logger='Thing'):
        Thing().critical('x')
    assert not caplog.records[-1].exc_info


def test_log_with_explicit_logger():
    logger = logging.getLogger('t.log.explicit')
    lg = Log('named', logger)
    assert lg.logger is logger and lg.logger_name == 'named'
    assert Log('other').logger.name == 'other'
    assert lg.annotate('x') == 'named - x'


def test_setup_logging(monkeypatch):
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        root.handlers.clear()
        stream = io.StringIO()
        assert setup_logging('INFO', stream) is root
        assert root.level == logging.INFO
        logging.getLogger('t.log.setup').info('to the stream')
        assert 'to the stream' in stream.getvalue()
        # with a handler present nothing changes
        setup_logging('DEBUG', io.StringIO())
        assert root.level == logging.INFO
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def test_setup_logging_file(tmp_path):
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        root.handlers.clear()
        setup_logging(logging.WARNING, str(tmp_path / 'k.log'))
        logging.getLogger('t.log.file').warning('into file')
        for h in root.handlers:
            h.flush()
            h.close()
        assert 'into file' in (tmp_path / 'k.log').read_text()
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
