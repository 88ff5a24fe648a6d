"""The SQS transport: per-connection clients, queue URL cache and capabilities."""
from __future__ import annotations

from typing import Any

from kombu.transport import virtual
from kombu.utils.objects import cached_property

from .channel import Channel
from .client import ClientFactory, boto3
from .errors import errors
from .heartbeat import VisibilityHeartbeat

__all__ = ('Transport',)


class Transport(virtual.Transport):
    """Amazon SQS transport."""

    Channel = Channel

    polling_interval: float | None = 1
    wait_time_seconds = 0
    default_port: int | None = None
    connection_errors = errors.connection_errors
    channel_errors = errors.channel_errors
    driver_type = 'sqs'
    driver_name = 'sqs'

    implements = virtual.Transport.implements.extend(
        asynchronous=True,
        exchange_type=frozenset(['direct', 'topic', 'headers']),
    )

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        # Per connection: another connection may use another account or region.
        self._queue_cache: dict[str, str] = {}
        self._noack_queues: set[str] = set()
        self._predefined_queue_clients: dict[str, Any] = {}
        self._predefined_queue_async_clients: dict[str, Any] = {}
        self._topic_arns: dict[str, str] = {}       # exchange -> SNS topic ARN
        self._subscription_arns: dict[tuple[str, str], str] = {}
        if self.options.supports_fanout:  # type: ignore[attr-defined]
            self.implements = self.implements.extend(
                exchange_type=self.implements.exchange_type | {'fanout'})

    @cached_property
    def endpoint_url(self) -> str | None:
        """``endpoint_url`` option, else the URL's host (for emulators), else AWS's."""
        options = self.options
        if options.endpoint_url:  # type: ignore[attr-defined]
            return str(options.endpoint_url)  # type: ignore[attr-defined]
        host = self.client.hostname
        if not host:
            return None
        # As upstream: a host in the URL is an emulator, plain HTTP unless is_secure.
        scheme = 'https' if options.is_secure else 'http'  # type: ignore[attr-defined]
        port = f':{self.client.port}' if self.client.port else ''
        return f'{scheme}://{host}{port}'

    @cached_property
    def heartbeat(self) -> VisibilityHeartbeat:
        """Extends the visibility of messages this connection's consumers hold."""
        return VisibilityHeartbeat(lambda: list(self.channels or ()),
                                   int(self.options.visibility_timeout))  # type: ignore[attr-defined]

    def close_connection(self, connection: Any) -> None:
        if 'heartbeat' in self.__dict__:
            self.heartbeat.stop()
        super().close_connection(connection)

    @cached_property
    def clients(self) -> ClientFactory:
        return ClientFactory(self.options,  # type: ignore[arg-type]
                             self.client.userid, self.client.password, self.endpoint_url)

    @cached_property
    def system_attributes_param(self) -> str:
        """``MessageSystemAttributeNames``, or ``AttributeNames`` for older botocore."""
        model = self.clients.client('sqs').meta.service_model
        members = model.operation_model('ReceiveMessage').input_shape.members
        return 'MessageSystemAttributeNames' if 'MessageSystemAttributeNames' in members \
            else 'AttributeNames'

    def driver_version(self) -> str:
        return str(boto3.__version__) if boto3 is not None else 'N/A'

    @property
    def default_connection_params(self) -> dict[str, Any]:
        return {'port': self.default_port, 'hostname': None}
