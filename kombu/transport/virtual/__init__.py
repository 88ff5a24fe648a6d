"""Virtual transports: the AMQ model emulated on simple message stores.

A transport for a new store subclasses :class:`Channel` and :class:`Transport`
and implements the storage hooks only::

    class Channel(virtual.Channel):
        def _new_queue(self, queue, **kwargs): ...      # create if needed
        def _has_queue(self, queue, **kwargs): ...      # for passive declares
        def _get(self, queue, timeout=None): ...        # pop one, or raise Empty
        def _put(self, queue, message, **kwargs): ...   # append the envelope
        def _put_front(self, queue, message, **kwargs): ...  # optional: requeue first
        def _purge(self, queue): ...                    # -> number removed
        def _size(self, queue): ...
        def _delete(self, queue, *args, **kwargs): ...

    class Transport(virtual.Transport):
        Channel = Channel

Stores shared by several processes set ``supports_fanout = True`` and keep
bindings in the store with ``_queue_bind``/``_queue_unbind``/``get_table``.
Everything else -- direct/topic/fanout/headers routing (memoized), prefetch,
acks, restore of unacked messages, per-message and per-queue TTL,
dead-lettering, queue expiry, priorities -- is done by the base.  Stores that
can do better override the matching hook (``_queue_policy``, ``_expired``,
``_dead_letter``, ``_restore``, ``_poll``, ``_get_many``...).
"""
from __future__ import annotations

from .base import (
                   AbstractChannel,
                   Base64,
                   BrokerState,
                   Channel,
                   Empty,
                   Management,
                   Message,
                   NotEquivalentError,
                   QoS,
                   Transport,
                   UndeliverableWarning,
                   binding_key_t,
                   queue_binding_t,
)
from .errors import ErrorTranslator
from .options import TransportOptionError, TransportOptions

__all__ = (
    'Base64', 'NotEquivalentError', 'UndeliverableWarning', 'BrokerState',
    'QoS', 'Message', 'AbstractChannel', 'Channel', 'Management', 'Transport',
    'Empty', 'binding_key_t', 'queue_binding_t',
)
# Beyond Kombu (importable from here, kept out of Kombu's __all__):
_EXTENSION_API = (ErrorTranslator, TransportOptionError, TransportOptions)
