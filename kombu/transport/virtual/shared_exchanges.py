"""For stores that keep exchanges where every client sees them (a broker object, Service
Bus topics, SLMQ topics): an exchange another process declared is learnt from the store.

The channel implements ``_stored_exchange_type(exchange)`` (its type, or None when the
store has no such exchange) and, if the store records declarations,
``_store_exchange(exchange, type)``.
"""
from __future__ import annotations

from typing import Any

__all__ = ('SharedExchangesMixin',)


class SharedExchangesMixin:
    """Mix in before :class:`~kombu.transport.virtual.Channel`."""

    state: Any
    exchange_types: dict[str, Any]

    def _stored_exchange_type(self, exchange: str) -> str | None:
        raise NotImplementedError

    def _store_exchange(self, exchange: str, type: str) -> None:
        """Record a declaration in the store (default: nothing to record)."""

    def typeof(self, exchange: str, default: str = 'direct') -> Any:
        if exchange and exchange not in self.state.exchanges:
            type = self._stored_exchange_type(exchange)
            if type is not None and type in self.exchange_types:
                with self.state.lock:   # declared elsewhere: known here from now on
                    self.state.exchanges.setdefault(exchange, {
                        'type': type, 'durable': True, 'auto_delete': False,
                        'arguments': {}, 'table': []})
        return super().typeof(exchange, default)  # type: ignore[misc]

    def exchange_declare(self, exchange: str | None = None, type: str = 'direct',
                         durable: bool = False, auto_delete: bool = False,
                         arguments: Any = None, nowait: bool = False,
                         passive: bool = False) -> None:
        name = exchange or f'amq.{type or "direct"}'
        if passive and name not in self.state.exchanges:
            self.typeof(name)   # a passive declare succeeds for another's exchange
        super().exchange_declare(exchange, type, durable, auto_delete,  # type: ignore[misc]
                                 arguments, nowait, passive)
        if not passive:
            self._store_exchange(name, type or 'direct')
