"""Settling claims that no QoS tracks, for stores that keep a message until it is settled.

A store whose ``_get`` *claims* a message (the filesystem's ``.claimed/`` file,
the SQL row made invisible) rather than removing it deletes the claim when the
message is acked or rejected.  Some messages fetched by ``_get`` are never
tracked by the channel's QoS, though: delivered with ``no_ack``, expired and
dead-lettered on the way, dropped by ``x-max-length`` (while publishing).  The store records the
tags ``_get`` claimed in ``_fresh_claims``; this mixin settles the untracked ones
once the fetch (a delivery, a ``basic_get``, a publish) is over.
"""
from __future__ import annotations

from typing import Any, Callable

from .qos import QoS

__all__ = ('SettlesFreshClaims', 'SettlingQoS')


class SettlesFreshClaims:
    """Mix into a virtual channel before ``virtual.Channel``; implement ``_settle(tag)``."""

    _fresh_claims: list[Any]
    qos: Any

    def _settle(self, tag: Any) -> None:
        raise NotImplementedError

    def _renew_claims(self) -> None:
        """Extend the claims this consumer holds (stores whose claims expire)."""

    def drain_events(self, timeout: float | None = None, callback: Any = None) -> Any:
        # Renew here too, not only in _get: with prefetch full, _get is not
        # called while the consumer works on what it holds.
        self._renew_claims()
        return super().drain_events(timeout=timeout, callback=callback)  # type: ignore[misc]

    def _settle_fresh(self) -> None:
        fresh, self._fresh_claims = self._fresh_claims, []
        delivered = self.qos._delivered
        for tag in fresh:
            if tag not in delivered:
                self._settle(tag)

    def _get_and_deliver(self, queue: str, callback: Callable[..., Any]) -> None:
        try:
            super()._get_and_deliver(queue, callback)  # type: ignore[misc]
        finally:
            if self._fresh_claims:
                self._settle_fresh()

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        try:
            return super().basic_get(queue, no_ack=no_ack, **kwargs)  # type: ignore[misc]
        finally:
            if self._fresh_claims:
                self._settle_fresh()

    def basic_publish(self, message: dict[str, Any], exchange: str, routing_key: str,
                      mandatory: bool = False, immediate: bool = False,
                      timeout: float | None = None, confirm_timeout: float | None = None,
                      **kwargs: Any) -> None:
        try:
            return super().basic_publish(  # type: ignore[misc,no-any-return]
                message, exchange, routing_key, mandatory, immediate, timeout,
                confirm_timeout, **kwargs)
        finally:
            if self._fresh_claims:  # x-max-length dropped the head
                self._settle_fresh()


class SettlingQoS(QoS):
    """QoS that settles a message's claim (``channel._settle``) once acked or rejected."""

    def ack(self, delivery_tag: Any) -> None:
        super().ack(delivery_tag)
        self.channel._settle(delivery_tag)  # type: ignore[attr-defined]

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        # a requeue gives the claim back (restore) before this settles nothing
        super().reject(delivery_tag, requeue=requeue)
        self.channel._settle(delivery_tag)  # type: ignore[attr-defined]
