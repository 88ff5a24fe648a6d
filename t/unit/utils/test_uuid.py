from __future__ import annotations

from uuid import UUID

from kombu.utils.uuid import uuid


def test_uuid_is_unique_uuid4_string():
    values = {uuid() for _ in range(100)}
    assert len(values) == 100
    for value in values:
        assert isinstance(value, str)
        assert UUID(value).version == 4


def test_uuid_custom_factory():
    fixed = UUID(int=7)
    assert uuid(lambda: fixed) == str(fixed)
