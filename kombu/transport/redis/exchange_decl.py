"""Exchange declarations shared through Redis, mixed into the channel.

The virtual transport knows an exchange's type only in the process that
declared it; any other process treats it as ``direct``, so publishing to (or
restoring messages through) a topic, fanout or headers exchange declared
elsewhere misroutes.  On Redis a declaration is therefore also stored under
``_kombu.exchange.<name>`` (after ``global_keyprefix``) as JSON with
``type``, ``durable``, ``auto_delete`` and ``arguments``; a process that has
not declared the exchange loads it from there, cached (found or not) for
``binding_cache_ttl`` seconds like the binding tables.  Deleting the exchange
deletes the key.  Upstream Kombu never reads that key, so sharing one Redis
with it stays compatible.
"""
from __future__ import annotations

import logging
from time import monotonic
from typing import TYPE_CHECKING, Any, Mapping

from kombu.transport.virtual.exchange import ExchangeType

from . import keys as K

logger = logging.getLogger('kombu.transport.redis')

if TYPE_CHECKING:
    from kombu.transport.virtual import Channel as _VirtualChannel

    from .contracts import ExchangeDeclHost

    class _ChannelBase(_VirtualChannel, ExchangeDeclHost):
        """Checked as part of the virtual channel, with what it needs of Redis's."""
else:
    _ChannelBase = object  # the Redis channel supplies the rest

#: Most declarations of exchanges unknown locally kept in memory at once.
_MAX_LOADED = 4096


class ExchangeDeclMixin(_ChannelBase):
    """Store exchange declarations in Redis; load the ones declared elsewhere."""

    keyprefix_exchange = '_kombu.exchange.%s'

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: exchange -> (trusted until, declaration or None) read from Redis
        self._loaded_exchanges: dict[str, tuple[float, dict[str, Any] | None]] = {}
        super().__init__(*args, **kwargs)

    def _exchange_key(self, exchange: str) -> str:
        return self.global_keyprefix + self.keyprefix_exchange % (exchange,)

    def exchange_declare(self, exchange: str | None = None, type: str = 'direct',
                         durable: bool = False, auto_delete: bool = False,
                         arguments: Mapping[str, Any] | None = None,
                         nowait: bool = False, passive: bool = False) -> None:
        if passive and exchange and exchange not in self.state.exchanges:
            if self._exchange_decl(exchange, refresh=True) is not None:
                return  # declared by another process
        super().exchange_declare(exchange, type, durable, auto_delete, arguments,
                                 nowait, passive)
        if passive:
            return
        type = type or 'direct'
        decl = {'type': type, 'durable': durable, 'auto_delete': auto_delete,
                'arguments': dict(arguments or {})}
        # the last declaration wins, as with upstream's (type-less) Redis
        self._execute('SET', self._exchange_key(exchange or f'amq.{type}'), K.dumps(decl))

    def exchange_delete(self, exchange: str, if_unused: bool = False,
                        nowait: bool = False) -> None:
        if if_unused and self._exchange_in_use(exchange):
            return
        super().exchange_delete(exchange, if_unused, nowait)
        self._loaded_exchanges.pop(exchange, None)
        self._execute('DEL', self._exchange_key(exchange))

    def _exchange_in_use(self, exchange: str) -> bool:
        try:
            return bool(self.get_table(exchange))
        except KeyError:
            return False

    def typeof(self, exchange: str, default: str = 'direct') -> ExchangeType:
        """Return the exchange type instance of ``exchange`` (declared anywhere)."""
        decl = self.state.exchanges.get(exchange)
        if decl is None and exchange:
            decl = self._exchange_decl(exchange)
        return self.exchange_types[decl['type'] if decl is not None else default]

    def _exchange_decl(self, exchange: str, refresh: bool = False) -> dict[str, Any] | None:
        """The declaration stored in Redis by another process, or None."""
        cached = self._loaded_exchanges.get(exchange)
        if not refresh and cached is not None and monotonic() < cached[0]:
            return cached[1]
        decl = self._load_exchange_decl(exchange)
        if cached is not None and cached[1] != decl:
            self._routes.clear()  # routes remembered under the previous type
        if len(self._loaded_exchanges) > _MAX_LOADED:
            self._loaded_exchanges.clear()
        self._loaded_exchanges[exchange] = (monotonic() + self.binding_cache_ttl, decl)
        return decl

    def _load_exchange_decl(self, exchange: str) -> dict[str, Any] | None:
        raw = self._execute('GET', self._exchange_key(exchange))
        if raw is None:
            return None
        try:
            decl = K.loads(raw)
            type = decl['type']
        except (TypeError, ValueError, KeyError) as exc:
            logger.warning('Ignoring unreadable declaration of exchange %r: %r', exchange, exc)
            return None
        if type not in self.exchange_types:
            logger.warning('Exchange %r has type %r, not supported here: routing it as direct',
                           exchange, type)
            return None
        return decl
