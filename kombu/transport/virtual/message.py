"""The message envelope of the virtual transports: body codec, delivery tags, Message."""
from __future__ import annotations

import os
import sys
from binascii import a2b_base64, b2a_base64
from itertools import count
from typing import Any, Callable, cast
from uuid import uuid4

from kombu.exceptions import DecodeError
from kombu.transport import base

__all__ = ('Base64', 'Message', 'next_delivery_tag', 'as_envelope', 'corrupt_envelope',
           'original_envelope', 'CORRUPT', 'CORRUPT_DATA')

#: property marking a stand-in envelope for stored data that is not one.
CORRUPT = 'x-kombu-corrupt'
#: key of a stand-in envelope holding the stored data as it was.
CORRUPT_DATA = 'x-kombu-corrupt-data'


def _tag_source() -> tuple[Callable[[], str], Callable[[], None]]:
    """Unique delivery tags, cheaper than one ``uuid4()`` per message.

    A tag keeps the UUID text format: a random per-process prefix followed by
    a counter in the last 12 hex digits.  The prefix is renewed in a forked child.
    """
    state: list[Any] = []

    def reset() -> None:
        state[:] = [str(uuid4())[:24], count(1).__next__]

    def next_tag() -> str:
        prefix, counter = state
        return f'{prefix}{counter():012x}'

    reset()
    return next_tag, reset


next_delivery_tag, _reset_delivery_tags = _tag_source()
if hasattr(os, 'register_at_fork'):  # pragma: no branch
    os.register_at_fork(after_in_child=_reset_delivery_tags)


class Base64:
    """Base64 body codec."""

    def encode(self, s: str | bytes) -> str:
        data = s.encode() if isinstance(s, str) else s
        return b2a_base64(data, newline=False).decode('ascii')

    def decode(self, s: str | bytes) -> bytes:
        return a2b_base64(s)


def _body_error(exc: Exception, encoding: Any) -> tuple[Any, ...]:
    """``sys.exc_info()``-style tuple of a DecodeError for an undecodable body."""
    try:
        raise DecodeError(
            f'message body is not valid {encoding or "envelope"} data: {exc}') from exc
    except DecodeError:
        return sys.exc_info()


def corrupt_envelope(data: object, reason: str) -> dict[str, Any]:
    """A stand-in envelope for stored ``data`` that is not a valid envelope.

    It becomes a :class:`Message` carrying a ``DecodeError`` (``reason``) for
    the consumer's ``on_decode_error``, with a delivery tag of its own so it
    can be acked (dropped), rejected (dead-lettered) or requeued (``data`` goes
    back as it was, see :func:`original_envelope`).
    """
    return {'body': None, 'content-type': None, 'content-encoding': None, 'headers': {},
            'properties': {'delivery_tag': next_delivery_tag(), 'delivery_info': {},
                           CORRUPT: reason},
            CORRUPT_DATA: data}


def as_envelope(data: object) -> dict[str, Any]:
    """Return ``data`` if it has the shape of an envelope, else a stand-in for it.

    For stores that parse what they read (the shape :class:`Message` needs:
    a dict whose ``properties`` is a dict with a ``delivery_tag``, and
    ``headers`` a dict if present).
    """
    if data.__class__ is dict:
        properties = data.get('properties')
        if properties.__class__ is not dict or 'delivery_tag' not in properties:
            return corrupt_envelope(data, 'envelope without valid properties')
        headers = data.get('headers')
        if headers is not None and headers.__class__ is not dict:
            return corrupt_envelope(data, 'envelope headers are not a mapping')
        return data
    return corrupt_envelope(data, f'not a message envelope: {type(data).__name__}')


def original_envelope(raw: dict[str, Any]) -> dict[str, Any]:
    """Return what was stored: the data behind a stand-in, else ``raw`` itself.

    The data behind a stand-in may be anything the store held; it goes back
    to the store's ``_put``/``_put_front`` as it came from its ``_get``.
    """
    if CORRUPT in raw['properties']:
        return cast('dict[str, Any]', raw[CORRUPT_DATA])
    return raw


class Message(base.Message):
    """A message received from a virtual channel; ``payload`` is the stored envelope."""

    def __init__(self, payload: dict[str, Any], channel: Any = None, **kwargs: Any) -> None:
        try:  # the shape of an envelope (inlined: once per message)
            properties = payload['properties']
            tag = properties['delivery_tag']
            headers = payload.get('headers')
            compressed = headers and headers.get('compression')
        except Exception:  # not an envelope: a stand-in carries the error
            payload = as_envelope(payload)
            properties = payload['properties']
            tag = properties['delivery_tag']
            headers = compressed = None
        self._raw = payload
        body = payload.get('body')
        error = None
        if not body:
            reason = properties.get(CORRUPT)
            if reason is not None:
                error = _body_error(ValueError(reason), None)
        else:
            encoding = properties.get('body_encoding')
            try:
                if encoding == 'base64' and channel._plain_base64:
                    body = a2b_base64(body)  # what decode_body does, minus two calls
                else:
                    body = channel.decode_body(body, encoding)
            except Exception as exc:
                # A corrupt envelope still becomes a Message: the consumer's
                # on_decode_error gets it (to ack, reject or dead-letter)
                # instead of the error escaping drain_events and the message
                # being lost.
                error = _body_error(exc, encoding)
        if error is not None or kwargs or body.__class__ is not bytes or compressed:
            if error is not None:
                self.errors = [error]  # first, so nothing else is tried on the body
            super().__init__(
                body=body,
                channel=channel,
                delivery_tag=tag,
                content_type=payload.get('content-type'),
                content_encoding=payload.get('content-encoding'),
                headers=headers,
                properties=properties,
                delivery_info=properties.get('delivery_info'),
                postencode='utf-8',
                **kwargs)
            return
        # The common case (uncompressed bytes body): what kombu.message.Message
        # does for it, without the call (keep the two in step).
        self.errors = [] if self.errors is None else self.errors
        self.channel = channel
        self.delivery_tag = tag
        self.content_type = payload.get('content-type')
        self.content_encoding = payload.get('content-encoding')
        self.delivery_info = properties.get('delivery_info') or {}
        self.headers = headers or {}
        self.properties = properties
        self._decoded_cache = None
        self._state = 'RECEIVED'
        self.accept = None
        self.body = body

    def serializable(self) -> dict[str, Any]:
        """Return the envelope of this message (body encoded again)."""
        props = self.properties
        body, _ = self.channel.encode_body(self.body, props.get('body_encoding'))
        headers = dict(self.headers)
        headers.pop('compression', None)  # the body here is decompressed
        return {
            'body': body,
            'properties': props,
            'content-type': self.content_type,
            'content-encoding': self.content_encoding,
            'headers': headers,
        }
