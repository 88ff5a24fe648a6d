"""File-system transport: processes of one machine share messages through folders.

A message is one file in ``data_folder_out`` (written by producers) and is
read from ``data_folder_in`` (by consumers); producer and consumer usually
point both at the same folder.  The folders are created when missing.

* Producer::

    conn = kombu.Connection('filesystem://', transport_options={
        'data_folder_in': 'data_in', 'data_folder_out': 'data_out'})

* Consumer: the same with ``data_folder_in`` and ``data_folder_out`` swapped.

Guarantees
==========
* A message file is written under a temporary name and renamed into place, so
  a consumer never sees a half-written message.
* A consumer claims a message by renaming it into ``.claimed/`` of the data
  folder: when several processes race for one message, exactly one wins.
  The claimed file is removed only once the message is acked (or rejected,
  or restored); the claims of a process that died are put back in the queue
  by the next channel opened on the folder.
* Files are named ``<key>_<uuid>.<queue>.msg`` where ``key`` sorts in
  priority then time order, so queues are FIFO (per priority level).
* Exchange tables live in ``control_folder`` (``<exchange>.exchange``, JSON,
  guarded by ``flock``) so fanout and routing work across processes; queue
  arguments (TTL, dead-lettering, priority) are kept next to them.

Features
========
* Type: Virtual
* Supports Direct, Topic, Fanout, Headers: Yes
* Supports Priority: Yes (queues declared with ``x-max-priority``)
* Supports TTL: Yes (with dead-lettering and ``x-max-length`` as on memory://)

Transport Options
=================
* ``data_folder_in`` - folder messages are read from (default ``data_in``).
* ``data_folder_out`` - folder messages are written to (default ``data_out``).
* ``store_processed`` - keep consumed messages in ``processed_folder``.
* ``processed_folder`` - where consumed messages are kept (default ``processed``).
* ``control_folder`` - where exchange tables are kept (default ``control``).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections import namedtuple
from pathlib import Path
from queue import Empty
from typing import IO, Any, ClassVar

from kombu.exceptions import ChannelError
from kombu.transport import virtual
from kombu.transport.virtual.claims import SettlesFreshClaims, SettlingQoS
from kombu.transport.virtual.message import as_envelope, corrupt_envelope
from kombu.transport.virtual.options import TransportOptions
from kombu.transport.virtual.state import QueuePolicy
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

if os.name == 'nt':  # pragma: no cover - needs pywin32
    import pywintypes  # type: ignore[import-untyped]
    import win32con  # type: ignore[import-untyped]
    import win32file  # type: ignore[import-untyped]

    LOCK_EX = win32con.LOCKFILE_EXCLUSIVE_LOCK
    LOCK_SH = 0
    _overlapped = pywintypes.OVERLAPPED()

    def lock(file: IO[Any], flags: int) -> None:
        """Lock ``file``."""
        win32file.LockFileEx(win32file._get_osfhandle(file.fileno()), flags, 0,
                             0xffff0000, _overlapped)

    def unlock(file: IO[Any]) -> None:
        """Unlock ``file``."""
        win32file.UnlockFileEx(win32file._get_osfhandle(file.fileno()), 0,
                               0xffff0000, _overlapped)
elif os.name == 'posix':
    import fcntl
    from fcntl import LOCK_EX, LOCK_SH

    def lock(file: IO[Any], flags: int) -> None:
        """Lock ``file``."""
        fcntl.flock(file.fileno(), flags)

    def unlock(file: IO[Any]) -> None:
        """Unlock ``file``."""
        fcntl.flock(file.fileno(), fcntl.LOCK_UN)
else:  # pragma: no cover
    raise RuntimeError('Filesystem plugin only defined for NT and POSIX platforms')

logger = logging.getLogger(__name__)

VERSION = (2, 0, 0)
__version__ = '.'.join(map(str, VERSION))

exchange_queue_t = namedtuple('exchange_queue_t', ['routing_key', 'pattern', 'queue'])

#: Characters accepted in an exchange (or queue-arguments) file name.
EXCHANGE_NAME_RE = re.compile(r'\A[A-Za-z0-9._-]+\Z')

#: Windows device names, which no suffix disarms.
WIN_RESERVED_NAMES = frozenset(
    ['CON', 'PRN', 'AUX', 'NUL', 'CONIN$', 'CONOUT$']
    + [f'COM{c}' for c in '123456789\xb9\xb2\xb3']
    + [f'LPT{c}' for c in '123456789\xb9\xb2\xb3']
)

CLAIMED = '.claimed'
_FRONT = 10 ** 20


class _Clock:
    """Strictly increasing nanosecond keys within a process."""

    def __init__(self) -> None:
        self.last = 0
        self.lock = threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            now = max(time.time_ns(), self.last + 1)
            self.last = now
            return now


_next_key = _Clock()

# (path) -> (stat signature, parsed content): shared by the channels of a process.
_file_cache: dict[str, tuple[tuple[int, int, int] | None, Any]] = {}


def _signature(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _valid_name(name: Any) -> bool:
    if not isinstance(name, str):
        return False
    if name == '':
        return True  # the default exchange: a plain ".exchange" file
    if not EXCHANGE_NAME_RE.match(name) or not name.strip('.'):
        return False
    return name.partition('.')[0].upper() not in WIN_RESERVED_NAMES


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by another user
    return True


@dataclasses.dataclass(frozen=True)
class FilesystemOptions(TransportOptions):
    """``transport_options`` of the file-system transport (Kombu's names and defaults)."""

    transport_name: ClassVar[str] = 'filesystem'

    #: folder messages are read from.
    data_folder_in: str = 'data_in'
    #: folder messages are written to.
    data_folder_out: str = 'data_out'
    #: keep consumed messages (in ``processed_folder``) instead of deleting them.
    store_processed: bool = False
    #: where consumed messages are kept with ``store_processed``.
    processed_folder: str = 'processed'
    #: where exchange tables and queue arguments are kept.
    control_folder: str = 'control'

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ('data_folder_in', 'data_folder_out', 'processed_folder',
                     'control_folder'):
            value = getattr(self, name)
            self.require(isinstance(value, (str, os.PathLike)) and str(value) != '',
                         f'{name} must be a folder path, not {value!r}')


class QoS(SettlingQoS):
    """Settles a message's claimed file once it is acked, rejected or restored."""

    channel: Channel

    def restore_unacked(self) -> list[tuple[BaseException, Any]]:
        self._flush()
        tags = list(self._delivered)
        errors = super().restore_unacked()
        failed = {getattr(message, 'delivery_tag', None) for _, message in errors}
        for tag in tags:
            if tag not in failed:  # a failed one stays claimed: recovered later
                self.channel._settle(tag)
        return errors


class Channel(SettlesFreshClaims, virtual.Channel):
    """File-system channel."""

    QoS = QoS
    Options = FilesystemOptions
    options: FilesystemOptions

    supports_fanout = True

    #: tables come from the control folder; routes are memoized until it changes.
    cache_routes = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing: dict[str, list[str]] = {}
        self._control_files: dict[tuple[str, str], Path] = {}
        self._claims: dict[Any, str] = {}
        self._fresh_claims: list[Any] = []
        for folder in (self.data_folder_in, self.data_folder_out, self.control_folder):
            os.makedirs(folder, exist_ok=True)
        os.makedirs(os.path.join(self.data_folder_in, CLAIMED), exist_ok=True)
        self._recover_orphans()

    # -- control folder: exchange tables and queue arguments -----------------

    def _control_file(self, name: str, suffix: str) -> Path:
        # Memoized: every publish looks up its exchange's and queue's files.
        try:
            return self._control_files[name, suffix]
        except KeyError:
            pass
        if not _valid_name(name):
            raise ChannelError(f'Invalid {suffix} name: {name!r}')
        folder = self.control_folder
        file = folder / f'{name}.{suffix}'
        if file.parent != folder:  # defence in depth
            raise ChannelError(f'Invalid {suffix} name: {name!r}')
        if len(self._control_files) > 10000:  # unbounded name spaces: start over
            self._control_files.clear()
        self._control_files[name, suffix] = file
        return file

    def _exchange_file(self, exchange: str) -> Path:
        return self._control_file(exchange, 'exchange')

    def _read_json(self, file: Path, default: Any) -> Any:
        key = str(file)
        signature = _signature(key)
        cached = _file_cache.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        if signature is None:
            _file_cache[key] = (None, default)
            return default
        try:
            with open(file, 'rb') as f_obj:
                lock(f_obj, LOCK_SH)
                try:
                    data = f_obj.read()
                finally:
                    unlock(f_obj)
        except FileNotFoundError:
            return default
        except OSError as exc:
            raise ChannelError(f'Cannot open {file}') from exc
        value = loads(data) if data else default
        _file_cache[key] = (signature, value)
        return value

    def _update_table(self, exchange: str, change: Any) -> None:
        """Apply ``change(table) -> table`` to the exchange file, under an exclusive lock."""
        file = self._exchange_file(exchange)
        try:
            with open(file, 'a+b') as f_obj:
                lock(f_obj, LOCK_EX)
                try:
                    f_obj.seek(0)
                    data = f_obj.read()
                    table = [exchange_queue_t(*item) for item in loads(data)] if data else []
                    new = change(table)
                    if new != table:
                        f_obj.seek(0)
                        f_obj.truncate()
                        f_obj.write(dumps(new).encode())
                        f_obj.flush()
                finally:
                    unlock(f_obj)
        except OSError as exc:
            raise ChannelError(f'Cannot open {file}') from exc
        _file_cache.pop(str(file), None)
        self.state.invalidate_routes(exchange)

    def get_table(self, exchange: str) -> list[exchange_queue_t]:
        table = self._read_json(self._exchange_file(exchange), [])
        return [exchange_queue_t(*item) for item in table]

    def _lookup(self, exchange: str, routing_key: str,
                default: str | None = None) -> Any:
        if exchange:
            self._refresh_routes(exchange)
        return super()._lookup(exchange, routing_key, default)

    def _refresh_routes(self, exchange: str) -> None:
        # Another process may have changed the table: drop memoized routes then.
        key = str(self._exchange_file(exchange))
        cached = _file_cache.get(key)
        if cached is None or cached[0] != _signature(key):
            self.state.invalidate_routes(exchange)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        entry = exchange_queue_t(routing_key or '', pattern or '', queue or '')
        self._update_table(exchange, lambda t: t if entry in t else [entry, *t])

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        entry = exchange_queue_t(routing_key or '', pattern or '', queue or '')
        if _signature(str(self._exchange_file(exchange))) is not None:
            self._update_table(exchange, lambda t: [e for e in t if e != entry])

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        # The queue file records that the queue exists and its x- arguments,
        # for the other processes.
        arguments = kwargs.get('arguments')
        if not _valid_name(queue):
            return
        file = self._control_file(queue, 'queue')
        if not arguments and file.exists():
            return
        tmp = file.with_name(f'.{file.name}.{uuid.uuid4().hex}.tmp')
        tmp.write_text(dumps(dict(arguments or {})))
        os.replace(tmp, file)
        _file_cache.pop(str(file), None)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        if not _valid_name(queue):
            return bool(self._size(queue))
        return self._control_file(queue, 'queue').exists()

    def _queue_policy(self, queue: str) -> QueuePolicy | None:
        policy = self.state.policies.get(queue)
        if policy is None and _valid_name(queue):
            policy = QueuePolicy.from_arguments(
                self._read_json(self._control_file(queue, 'queue'), None))
        return policy

    # -- messages ----------------------------------------------------------

    def _filename(self, queue: str, message: dict[str, Any], front: bool = False) -> str:
        if os.sep in queue or (os.altsep and os.altsep in queue) or '\x00' in queue:
            raise ChannelError(f'Invalid queue name for the filesystem transport: {queue!r}')
        level = 255 - self._queue_priority(self._queue_policy(queue), message)
        now = _next_key()
        key = f'{level:03d}0{_FRONT - now:020d}' if front else f'{level:03d}1{now:020d}'
        return f'{key}_{uuid.uuid4().hex}.{queue}.msg'

    def _write(self, queue: str, message: dict[str, Any], front: bool = False) -> None:
        folder = self.data_folder_out
        filename = self._filename(queue, message, front)
        tmp = os.path.join(folder, f'.{filename}.tmp')
        try:
            with open(tmp, 'wb') as f_obj:
                f_obj.write(dumps(message).encode())
            os.rename(tmp, os.path.join(folder, filename))
        except OSError as exc:
            raise ChannelError(f'Cannot add file {filename!r} to {folder!r}') from exc
        if front:
            self._listing.pop(queue, None)

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        self._write(queue, message)

    def _put_front(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        self._write(queue, message, front=True)

    def _list(self, queue: str) -> list[str]:
        suffix = f'.{queue}.msg'
        names = [name for name in os.listdir(self.data_folder_in)
                 if name.endswith(suffix) and name.partition('.')[2] == suffix[1:]]
        names.sort(reverse=True)  # pop() from the end gives the oldest
        return names

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        names = self._listing.get(queue)
        if names:
            payload = self._claim_next(names)
            if payload is not None:
                return payload
        # Nothing cached, or other consumers took every cached file: list again.
        names = self._list(queue)
        policy = self._queue_policy(queue)
        if policy is None or not policy.max_priority:
            # Priority queues list every time, so a new urgent message is seen.
            self._listing[queue] = names
        payload = self._claim_next(names)
        if payload is None:
            raise Empty()
        return payload

    def _claim_next(self, names: list[str]) -> dict[str, Any] | None:
        while names:
            payload = self._claim(names.pop())
            if payload is not None:
                return payload
        return None

    def _claim(self, filename: str) -> dict[str, Any] | None:
        """Take ``filename`` by renaming it into ``.claimed/``; None if taken already.

        The claimed file stays until the message is settled (acked, rejected,
        restored, or delivered without ack), so that the messages of a process
        that dies are put back by the next consumer (see ``_recover_orphans``).
        """
        folder = self.data_folder_in
        claimed = os.path.join(folder, CLAIMED, f'{os.getpid()}-{filename}')
        try:
            os.rename(os.path.join(folder, filename), claimed)
        except OSError:
            return None  # another consumer won it
        try:
            with open(claimed, 'rb') as f_obj:
                data = f_obj.read()
        except OSError as exc:
            raise ChannelError(f'Cannot read file {filename!r} from queue.') from exc
        try:
            payload = as_envelope(loads(data))
        except ValueError as exc:
            # Not JSON: a stand-in the consumer's on_decode_error gets (its ack
            # removes the file, a requeue writes the text back).
            payload = corrupt_envelope(data.decode('utf-8', 'replace'),
                                       f'message file is not JSON: {exc}')
        tag = payload['properties']['delivery_tag']
        self._claims[tag] = claimed
        self._fresh_claims.append(tag)
        return payload

    def _settle(self, tag: Any) -> None:
        """The message ``tag`` is done with: drop (or keep as processed) its file."""
        claimed = self._claims.pop(tag, None)
        if claimed is None:
            return
        try:
            if self.store_processed:
                os.makedirs(self.processed_folder, exist_ok=True)
                name = os.path.basename(claimed).partition('-')[2]
                shutil.move(claimed, os.path.join(self.processed_folder, name))
            else:
                os.remove(claimed)
        except FileNotFoundError:
            pass

    def _recover_orphans(self) -> None:
        """Put back the messages claimed by processes that no longer exist."""
        folder = self.data_folder_in
        claimed_dir = os.path.join(folder, CLAIMED)
        for name in os.listdir(claimed_dir):
            pid, _, original = name.partition('-')
            if not pid.isdigit() or not original or _alive(int(pid)):
                continue
            try:
                os.rename(os.path.join(claimed_dir, name), os.path.join(folder, original))
            except OSError:
                continue  # recovered by another process meanwhile
            logger.info('Recovered message %s of dead process %s', original, pid)

    def _purge(self, queue: str) -> int:
        count = 0
        self._listing.pop(queue, None)
        for filename in self._list(queue):
            try:
                os.remove(os.path.join(self.data_folder_in, filename))
            except OSError:
                continue  # consumed meanwhile
            count += 1
        return count

    def _size(self, queue: str) -> int:
        return len(self._list(queue))

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self._purge(queue)
        if len(args) >= 3:
            exchange, routing_key, pattern = args[:3]
            self._queue_unbind(exchange, routing_key, pattern, queue)
        if _valid_name(queue):
            file = self._control_file(queue, 'queue')
            try:
                os.remove(file)
            except FileNotFoundError:
                pass
            _file_cache.pop(str(file), None)

    # -- options -------------------------------------------------------------

    # Attributes, as in Kombu (a test or subclass may still assign them).
    @cached_property
    def data_folder_in(self) -> str:
        return self.options.data_folder_in

    @cached_property
    def data_folder_out(self) -> str:
        return self.options.data_folder_out

    @cached_property
    def store_processed(self) -> bool:
        return self.options.store_processed

    @cached_property
    def processed_folder(self) -> str:
        return self.options.processed_folder

    @cached_property
    def control_folder(self) -> Path:
        return Path(self.options.control_folder)


class Transport(virtual.Transport):
    """File-system transport."""

    implements = virtual.Transport.implements.extend(
        asynchronous=False,
        exchange_type=frozenset(['direct', 'topic', 'fanout', 'headers']),
    )

    Channel = Channel

    #: bindings are in the control folder; this process's view of them is shared.
    global_state = virtual.BrokerState()

    #: seconds between polls of an empty folder.
    polling_interval = 0.05

    default_port = 0
    driver_type = 'filesystem'
    driver_name = 'filesystem'

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.state = self.global_state

    def driver_version(self) -> str:
        return 'N/A'
