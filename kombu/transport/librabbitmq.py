"""``librabbitmq://``: an alias of the py-amqp transport.

The librabbitmq C extension is unmaintained and does not build on current
Pythons; URLs and settings that name it get :mod:`kombu.transport.pyamqp`,
which speaks the same protocol to the same brokers (and supports TLS and
heartbeats, which librabbitmq did not).
"""
from __future__ import annotations

from .pyamqp import DEFAULT_PORT, DEFAULT_SSL_PORT, Channel, Connection, Message, Transport

__all__ = ('DEFAULT_PORT', 'DEFAULT_SSL_PORT', 'NO_SSL_ERROR', 'W_VERSION',
           'Message', 'Channel', 'Connection', 'Transport')

# Kept for code that imports them; nothing here raises or warns with them.
NO_SSL_ERROR = 'ssl not supported by librabbitmq, please use pyamqp:// or stunnel'
W_VERSION = 'librabbitmq version too old to detect RabbitMQ version information'
