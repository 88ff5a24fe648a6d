"""The Redis transport: one poller and one lease keeper per connection."""
from __future__ import annotations

from typing import Any

import redis

from kombu.transport import virtual

from . import keys as K
from .channel import Channel
from .client import get_redis_error_classes
from .poller import MultiChannelPoller
from .qos import LeaseKeeper


class Transport(virtual.Transport):
    """Redis transport."""

    Channel = Channel

    polling_interval: float | None = None  # BRPOP blocks; no sleep between polls
    brpop_timeout: float = 1
    default_port = K.DEFAULT_PORT
    driver_type = 'redis'
    driver_name = 'redis'

    implements = virtual.Transport.implements.extend(
        asynchronous=True,
        batch_publish=True,
        exchange_type=frozenset(['direct', 'topic', 'fanout', 'headers']),
    )

    connection_errors, channel_errors = get_redis_error_classes()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cycle = MultiChannelPoller()
        # the poller is ours, not the base's FairCycle: drain_events goes through its get()
        self._plain_drain = False
        if self.polling_interval is not None:
            self.brpop_timeout = self.polling_interval
        # (unknown options were warned about once by the base, building options)
        vt = self._option('visibility_timeout')
        self._lease_keeper = LeaseKeeper(interval=max(0.05, min(vt / 4, 60.0)))

    def _wait_for_messages(self, timeout: float, token: Any) -> None:
        """No sleep between polls: the poll itself waited (BRPOP blocks).

        ``polling_interval`` only sets the BRPOP timeout here, as upstream.
        """

    def driver_version(self) -> str:
        return redis.__version__

    def _option(self, name: str) -> Any:
        """``name`` as given in ``transport_options``, else the channel's default."""
        options = self.options
        return getattr(options, name) if options.given(name) else getattr(self.Channel, name)

    @property
    def supports_batch_publish(self) -> bool:
        return not self._option('retry_on_timeout')

    def _keep_alive(self, qos: Any) -> None:
        self._lease_keeper.watch(qos)

    def close_connection(self, connection: Any) -> None:
        self._lease_keeper.stop()
        super().close_connection(connection)

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        cycle = self.cycle
        cycle.on_poll_init(loop.poller)
        cycle._loop = loop
        cycle_poll_start = cycle.on_poll_start
        add_reader = loop.add_reader
        on_readable = self.on_readable

        def _on_disconnect(conn: Any) -> None:
            gone = set()
            for key in list(cycle._chan_to_sock):
                channel, client, type = key
                if getattr(client, 'connection', None) is conn:
                    del cycle._chan_to_sock[key]
                    gone.add((channel, type))
            for fd, chan_type in list(cycle._fd_to_chan.items()):
                if chan_type in gone:
                    loop.remove(fd)
                    del cycle._fd_to_chan[fd]
        cycle._on_connection_disconnect = _on_disconnect

        def on_poll_start() -> None:
            cycle_poll_start()
            for fd in list(cycle.fds):
                add_reader(fd, on_readable, fd)
        loop.on_tick.add(on_poll_start)

        for attr in ('_restore_messages_tref', '_subclient_health_tref',
                     '_brpop_health_tref', '_binding_expiry_tref'):
            old = getattr(cycle, attr, None)
            if old is not None:
                old.cancel()
        restore_every = self._option('unacked_restore_interval')
        if not restore_every or restore_every <= 0:
            restore_every = Channel.unacked_restore_interval
        health = self._option('health_check_interval')
        cycle._restore_messages_tref = loop.call_repeatedly(
            restore_every, cycle.maybe_restore_messages)
        if health:
            cycle._subclient_health_tref = loop.call_repeatedly(
                health, cycle.maybe_check_subclient_health)
            cycle._brpop_health_tref = loop.call_repeatedly(
                health, cycle.maybe_check_brpop_health)
        cycle._binding_expiry_tref = loop.call_repeatedly(
            1, cycle.maybe_refresh_binding_expiry)

    def on_readable(self, fileno: int) -> Any:  # type: ignore[override]
        """Handle an event-loop readiness event for one of our sockets."""
        return self.cycle.on_readable(fileno)
