"""The conformance suite over filesystem:// (every optional feature supported)."""
from __future__ import annotations

from typing import Any

import pytest

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
