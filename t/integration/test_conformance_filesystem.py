"""The conformance suite over filesystem:// (every optional feature supported)."""
from __future__ import annotations

import json
import os
from typing import Any

import pytest

from kombu import Connection, Queue
from t.integration.conformance import ConformanceSuite


class TestFilesystemConformance(ConformanceSuite):
    url = 'filesystem://'

    @pytest.fixture(autouse=True)
    def _folders(self, tmp_path: Any) -> None:
        # Each test gets its own folders: the broker is the directory tree.
        self.transport_options = {
            'data_folder_in': str(tmp_path / 'data'),
            'data_folder_out': str(tmp_path / 'data'),
            'control_folder': str(tmp_path / 'control'),
        }

    def store_raw(self, conn: Connection, queue: Queue, entry: Any) -> None:
        # A message file another writer left, named as the transport names them.
        channel = conn.default_channel
        text = entry if isinstance(entry, str) else json.dumps(entry)
        path = os.path.join(channel.data_folder_out, channel._filename(queue.name, {}))
        with open(path, 'w') as f_obj:
            f_obj.write(text)
