"""Azure Storage Queues transport (virtual), on the ``azure-storage-queue`` library.

Features
========
* Type: Virtual
* Supports Direct: Yes
* Supports Topic: Yes
* Supports Headers: Yes
* Supports Fanout: No (exchange tables live in the client process)
* Supports Priority: No
* Supports TTL: No

Connection String
=================
The part after ``azurestoragequeues://`` is ``<credential>@<account URL>``::

    azurestoragequeues://<STORAGE_ACCOUNT_ACCESS_KEY>@<STORAGE_ACCOUNT_URL>
    azurestoragequeues://<SAS_TOKEN>@<STORAGE_ACCOUNT_URL>
    azurestoragequeues://DefaultAzureCredential@<STORAGE_ACCOUNT_URL>
    azurestoragequeues://ManagedIdentityCredential@<STORAGE_ACCOUNT_URL>

The credential is everything before the *last* ``@`` and is not URL-decoded, so
a SAS token may contain ``/``.  ``DefaultAzureCredential`` and
``ManagedIdentityCredential`` (any case) use those classes of ``azure-identity``.
For the Azurite emulator (an account URL naming ``devstoreaccount1`` outside
``.core.windows.net``) the key is passed as the account key of that account.

Delivery
========
As in Kombu, a message is deleted from Azure when it is received; until it is
acknowledged the channel keeps it, and gives unacknowledged messages back to the
queue when it closes.

Limits
======
A message (its JSON envelope) may be at most 64 KiB; a larger one raises
:class:`~kombu.exceptions.LimitExceeded` and is not sent.

Errors
======
Every call into the client library is translated at the boundary
(:class:`~kombu.transport.virtual.errors.ErrorTranslator`): a request that
could not be sent or got no answer (``ServiceRequestError``,
``ServiceResponseError``) and an HTTP 408, 429 or 5xx answer (the service busy
or failing) are :class:`~kombu.exceptions.ConnectionError` (retried by
``Connection.ensure``); refused credentials (``ClientAuthenticationError``,
HTTP 401/403) :class:`~kombu.exceptions.AccessRefused`; a missing queue
(``ResourceNotFoundError``) a ``ChannelError`` with code 404; an HTTP 413
:class:`~kombu.exceptions.LimitExceeded`; any other HTTP error a ``ChannelError``.
The original exception is chained (``__cause__``).

A stored message that is not a JSON envelope reaches the consumer's
``on_decode_error`` as a message carrying a ``DecodeError``.

Transport Options
=================
* ``queue_name_prefix`` - prepended to every queue name (default ``''``).
"""
from __future__ import annotations

import dataclasses
import string
from queue import Empty
from typing import Any, ClassVar

from kombu.exceptions import LimitExceeded
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

from . import virtual
from .virtual.errors import ErrorTranslator
from .virtual.message import as_envelope, corrupt_envelope
from .virtual.options import TransportOptions

try:
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceExistsError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )
    from azure.storage.queue import QueueServiceClient
except ImportError:  # pragma: no cover - the client library is optional
    QueueServiceClient = None  # type: ignore[misc,assignment]

    class _Absent(Exception):
        """Stands in for the client library's exceptions when it is not installed."""

    ClientAuthenticationError = HttpResponseError = _Absent  # type: ignore[misc,assignment]
    ResourceExistsError = ResourceNotFoundError = _Absent  # type: ignore[misc,assignment]
    ServiceRequestError = ServiceResponseError = _Absent  # type: ignore[misc,assignment]

try:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
except ImportError:  # pragma: no cover
    DefaultAzureCredential = ManagedIdentityCredential = None  # type: ignore[misc,assignment]

__all__ = ('CHARS_REPLACE_TABLE', 'Channel', 'Transport')

#: Azure queue names allow only letters, digits and dashes: punctuation becomes a dash.
CHARS_REPLACE_TABLE = {ord(c): 0x2d for c in string.punctuation}

#: Azure's limit for one message (the JSON envelope, body included).
MAX_MESSAGE_SIZE = 64 * 1024

_URI_HELP = ('Need a URI like azurestoragequeues://{SAS or access key}@{URL}, '
             'azurestoragequeues://DefaultAzureCredential@{URL} or '
             'azurestoragequeues://ManagedIdentityCredential@{URL}')
_SCHEME = 'azurestoragequeues://'


def _kind_by_status(exc: BaseException) -> str | None:
    """The kind of an HTTP error from its status (None: by its class)."""
    status = getattr(exc, 'status_code', None)
    if not isinstance(status, int):
        return None
    if status in (408, 429) or status >= 500:  # busy or failing: try again later
        return 'connection'
    if status in (401, 403):
        return 'auth'
    if status == 413:
        return 'limit'
    return None


errors = ErrorTranslator(
    'azurestoragequeues',
    connection=(ServiceRequestError, ServiceResponseError),
    auth=(ClientAuthenticationError,),
    not_found=(ResourceNotFoundError,),
    channel=(HttpResponseError,),
    classify=_kind_by_status,
)


def _split_uri(uri: str) -> tuple[str, str]:
    """``(credential, account_url)``: the credential is what precedes the last ``@``."""
    rest = uri[len(_SCHEME):] if uri.startswith(_SCHEME) else uri
    credential, sep, url = rest.rpartition('@')
    if not sep or not credential or not url:
        raise ValueError(_URI_HELP)
    return credential, url


@dataclasses.dataclass(frozen=True)
class AzureStorageQueuesOptions(TransportOptions):
    """``transport_options`` of the Azure Storage Queues transport.

    The credential is part of the URL (and masked by ``as_uri``), not an option.
    """

    transport_name: ClassVar[str] = 'azurestoragequeues'

    #: prepended to every queue name.
    queue_name_prefix: str = ''

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require(isinstance(self.queue_name_prefix, str),
                     f'queue_name_prefix must be a string, not {self.queue_name_prefix!r}')


class Channel(virtual.Channel):
    """Azure Storage Queues channel."""

    Options = AzureStorageQueuesOptions
    options: AzureStorageQueuesOptions

    domain_format: str = 'kombu%(vhost)s'
    no_ack: bool = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if QueueServiceClient is None:
            raise ImportError(
                'the Azure Storage Queues transport needs azure-storage-queue '
                '(pip install "kombu[azurestoragequeues]")')
        super().__init__(*args, **kwargs)
        self._credential, self._url = Transport.parse_uri(self.conninfo.hostname)

    def entity_name(self, name: str, table: dict[int, int] = CHARS_REPLACE_TABLE) -> str:
        """The Azure queue name for a Kombu queue name (prefixed, lower case)."""
        return f'{self.queue_name_prefix}{name}'.translate(table).lower()

    def _client(self, queue: str, create: bool = True) -> Any:
        """A QueueClient for ``queue``; the queue is created on first use."""
        name = self.entity_name(queue)
        cache = self.connection._queue_clients
        client = cache.get(name)
        if client is None:
            with errors('create queue', name):
                client = self.queue_service.get_queue_client(name)
                if create:
                    try:
                        client.create_queue()
                    except ResourceExistsError:
                        pass
            cache[name] = client
        return client

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        self._client(queue)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        name = self.entity_name(queue)
        with errors('get queue', name):
            try:
                self.queue_service.get_queue_client(name).get_queue_properties()
            except ResourceNotFoundError:
                return False
        return True

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        name = self.entity_name(queue)
        self.connection._queue_clients.pop(name, None)
        with errors('delete queue', name):
            try:
                self.queue_service.delete_queue(name)
            except ResourceNotFoundError:
                pass

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        text = dumps(message)
        size = len(text.encode())
        if size > MAX_MESSAGE_SIZE:   # Azure would answer 413 RequestBodyTooLarge
            raise LimitExceeded(f'message of {size} bytes for queue {queue!r} is over the '
                                f'{MAX_MESSAGE_SIZE} byte limit of Azure Storage Queues')
        client = self._client(queue)
        with errors('send', queue):
            client.send_message(text)

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        client = self._client(queue)
        with errors('receive', queue):
            for received in client.receive_messages(max_messages=1, messages_per_page=1):
                client.delete_message(received)
                return self._envelope(received.content)
        raise Empty()

    @staticmethod
    def _envelope(content: Any) -> dict[str, Any]:
        try:
            return as_envelope(loads(content))
        except ValueError as exc:  # not JSON: on_decode_error gets it
            return corrupt_envelope(content, f'message is not JSON: {exc}')

    def _size(self, queue: str) -> int:
        client = self._client(queue)
        with errors('size', queue):
            return int(client.get_queue_properties().approximate_message_count)

    def _purge(self, queue: str) -> int:
        client = self._client(queue)
        with errors('purge', queue):
            size = int(client.get_queue_properties().approximate_message_count)
            client.clear_messages()
        return size

    @cached_property
    def queue_service(self) -> Any:
        with errors('connect', self._url):
            return QueueServiceClient(account_url=self._url, credential=self._credential)

    @cached_property
    def queue_name_prefix(self) -> str:
        return self.options.queue_name_prefix


class Transport(virtual.Transport):
    """Azure Storage Queues transport."""

    Channel = Channel

    connection_errors = errors.connection_errors
    channel_errors = errors.channel_errors

    polling_interval: float = 1
    default_port: int | None = None
    can_parse_url: bool = True
    driver_type = 'azurestoragequeues'
    driver_name = 'azure-storage-queue'
    implements = virtual.Transport.implements.extend(
        exchange_type=frozenset(['direct', 'topic', 'headers']))

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        # Per connection: another storage account must not see these clients.
        self._queue_clients: dict[str, Any] = {}

    @staticmethod
    def parse_uri(uri: str) -> tuple[Any, str]:
        """``(credential, account_url)`` from a connection URI (with or without the scheme).

        Raises ValueError for a URI without a credential or an account URL.
        """
        credential, url = _split_uri(uri)
        named = {'defaultazurecredential': DefaultAzureCredential,
                 'managedidentitycredential': ManagedIdentityCredential}
        if credential.lower() in named:
            factory = named[credential.lower()]
            if factory is None:
                raise ImportError(f'{credential} needs azure-identity '
                                  '(pip install "kombu[azurestoragequeues]")')
            return factory(), url
        if 'devstoreaccount1' in url and '.core.windows.net' not in url:
            # Azurite, the emulator: the key belongs to its fixed account.
            return {'account_name': 'devstoreaccount1', 'account_key': credential}, url
        return credential, url

    @classmethod
    def as_uri(cls, uri: str, include_password: bool = False, mask: str = '**') -> str:
        """The URI with the credential masked unless ``include_password``."""
        credential, url = _split_uri(uri)
        return f'{_SCHEME}{credential if include_password else mask}@{url}'
