"""azurestoragequeues://: URI parsing and masking, queue names (no server needed)."""
from __future__ import annotations

import pytest

from kombu import Connection
from kombu.transport import azurestoragequeues as azq
from kombu.transport.azurestoragequeues import Transport

ACCOUNT = 'https://acct.queue.core.windows.net'


def test_parse_uri_key_and_url():
    assert Transport.parse_uri(f'azurestoragequeues://s3cr3t@{ACCOUNT}') == ('s3cr3t', ACCOUNT)
    assert Transport.parse_uri(f's3cr3t@{ACCOUNT}') == ('s3cr3t', ACCOUNT)   # as Celery passes it


def test_parse_uri_sas_token_may_hold_slashes_and_at_signs():
    token = 'sv=2022&sig=a/b+c@d=='
    assert Transport.parse_uri(f'azurestoragequeues://{token}@{ACCOUNT}') == (token, ACCOUNT)


def test_parse_uri_azurite_key_belongs_to_the_dev_account():
    url = 'http://127.0.0.1:10001/devstoreaccount1'
    credential, parsed = Transport.parse_uri(f'azurestoragequeues://KEY@{url}')
    assert parsed == url
    assert credential == {'account_name': 'devstoreaccount1', 'account_key': 'KEY'}


@pytest.mark.parametrize('name', ['DefaultAzureCredential', 'managedidentitycredential'])
def test_parse_uri_named_credentials(name):
    pytest.importorskip('azure.identity')
    credential, url = Transport.parse_uri(f'azurestoragequeues://{name}@{ACCOUNT}')
    assert url == ACCOUNT
    assert type(credential).__name__.lower() == name.lower()


@pytest.mark.parametrize('uri', ['azurestoragequeues://', 'azurestoragequeues://key',
                                 'azurestoragequeues://@url', 'azurestoragequeues://key@'])
def test_parse_uri_rejects_incomplete(uri):
    with pytest.raises(ValueError, match='Need a URI like'):
        Transport.parse_uri(uri)


def test_as_uri_masks_the_credential():
    uri = f'azurestoragequeues://s3cr3t@{ACCOUNT}'
    assert Transport.as_uri(uri) == f'azurestoragequeues://**@{ACCOUNT}'
    assert Transport.as_uri(uri, include_password=True) == uri
    conn = Connection(uri)
    assert conn.transport_cls == 'azurestoragequeues'
    assert conn.hostname == uri     # the transport parses the URL itself
    assert 's3cr3t' not in conn.as_uri() and 's3cr3t' not in repr(conn)


def test_entity_name_keeps_letters_digits_dashes():
    class FakeChannel:
        queue_name_prefix = 'pre_'
    name = azq.Channel.entity_name(FakeChannel(), 'Celery@host.celery.pidbox')
    assert name == 'pre-celery-host-celery-pidbox'
    assert azq.CHARS_REPLACE_TABLE[ord('.')] == ord('-')
