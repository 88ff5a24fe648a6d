"""kombu.asynchronous.aws: signing, answers and errors (a recording HTTP client, no network)."""
from __future__ import annotations

import json
from io import BytesIO
from typing import Any

import pytest

boto3 = pytest.importorskip('boto3')
from botocore.exceptions import ClientError, EndpointConnectionError  # noqa: E402
from vine import promise  # noqa: E402

from kombu.asynchronous.aws import connect_sqs  # noqa: E402
from kombu.asynchronous.aws.connection import (  # noqa: E402
    AsyncHTTPResponse,
    message_from_headers,
)
from kombu.asynchronous.aws.sqs.connection import AsyncSQSConnection  # noqa: E402
from kombu.asynchronous.aws.sqs.message import AsyncMessage  # noqa: E402
from kombu.asynchronous.aws.sqs.queue import AsyncQueue, list_first  # noqa: E402
from kombu.asynchronous.http.base import Headers, Response  # noqa: E402

URL = 'http://127.0.0.1:1/123456789012/jobs'


class RecordingClient:
    """Stands in for the Hub's HTTP client: keeps requests, answers when told."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def add_request(self, request: Any) -> Any:
        self.requests.append(request)
        return request

    def answer(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        request = self.requests.pop(0)
        data = json.dumps(body).encode() if body is not None else b''
        request.on_ready(Response(request, code, Headers(headers or {}), BytesIO(data)))


@pytest.fixture
def sqs() -> tuple[AsyncSQSConnection, RecordingClient]:
    client = boto3.client('sqs', region_name='us-east-1', endpoint_url='http://127.0.0.1:1',
                          aws_access_key_id='AKIDEXAMPLE', aws_secret_access_key='s')
    http = RecordingClient()
    return AsyncSQSConnection(client, http_client=http), http


def test_receive_is_signed_json(sqs: Any) -> None:
    conn, http = sqs
    got: list[Any] = []
    conn.receive_message('jobs', URL, number_messages=7, wait_time_seconds=3,
                         callback=promise(got.append))
    request = http.requests[0]
    assert request.method == 'POST' and request.url == URL
    assert request.headers['X-Amz-Target'] == 'AmazonSQS.ReceiveMessage'
    assert 'Credential=AKIDEXAMPLE/' in request.headers['Authorization']
    params = json.loads(request.body)
    assert params['MaxNumberOfMessages'] == 7 and params['WaitTimeSeconds'] == 3
    assert params['MessageSystemAttributeNames'] == ['ApproximateReceiveCount']
    http.answer(200, {'Messages': [{'Body': 'b', 'ReceiptHandle': 'r'}]})
    assert got == [{'Messages': [{'Body': 'b', 'ReceiptHandle': 'r'}]}]


@pytest.mark.parametrize('body,headers,code', [
    ({'__type': 'com.amazonaws.sqs#QueueDoesNotExist', 'message': 'gone'}, {},
     'QueueDoesNotExist'),
    ({'__type': 'x#y', 'message': 'gone'},
     {'x-amzn-query-error': 'AWS.SimpleQueueService.NonExistentQueue;Sender'},
     'AWS.SimpleQueueService.NonExistentQueue'),
])
def test_errors_reach_the_errback_as_client_errors(sqs: Any, body: Any, headers: Any,
                                                   code: str) -> None:
    conn, http = sqs
    failed: list[BaseException] = []
    conn.delete_message('jobs', 'rh', callback=promise(lambda a: None, on_error=failed.append))
    http.answer(400, body, headers)
    assert isinstance(failed[0], ClientError)
    assert failed[0].response['Error']['Code'] == code


def test_no_answer_is_a_connection_error(sqs: Any) -> None:
    conn, http = sqs
    failed: list[BaseException] = []
    conn.send_message('jobs', 'x', callback=promise(lambda a: None, on_error=failed.append))
    http.answer(599, None)
    assert isinstance(failed[0], EndpointConnectionError)


def test_error_without_errback_is_logged_not_raised(sqs: Any, caplog: Any) -> None:
    conn, http = sqs
    conn.get_queue_url('jobs', callback=lambda url: None)
    http.answer(400, {'__type': 'x#QueueDoesNotExist', 'message': 'gone'})
    assert 'GetQueueUrl failed' in caplog.text


def test_batches_and_queue_objects(sqs: Any) -> None:
    conn, http = sqs
    queue = AsyncQueue(conn, URL)
    assert queue.name == 'jobs'
    queue.delete_message_batch(['r1', 'r2'])
    entries = json.loads(http.requests[0].body)['Entries']
    assert entries == [{'Id': '0', 'ReceiptHandle': 'r1'}, {'Id': '1', 'ReceiptHandle': 'r2'}]
    got: list[Any] = []
    queue.get_messages(2, callback=promise(got.append))
    http.requests.pop(0)
    http.answer(200, {'Messages': [{'Body': 'aGk=', 'ReceiptHandle': 'h'}]})
    assert got[0][0].receipt_handle == 'h' and got[0][0].decode() == 'hi'
    assert list_first([]) is None


def test_message_base64() -> None:
    message = AsyncMessage(body=AsyncMessage().encode('{"a": 1}'))
    assert message.decode() == '{"a": 1}'
    assert AsyncMessage(body='not base64!').decode() == 'not base64!'


def test_http_response_view() -> None:
    request = type('R', (), {'url': URL})()
    response = AsyncHTTPResponse(Response(request, 200, Headers({'X-A': '1'}), BytesIO(b'ok')))
    assert response.status == 200 and response.read() == b'ok'
    assert response.getheader('X-A') == '1' and response.msg['X-A'] == '1'
    assert message_from_headers([('K', 'v')])['K'] == 'v'


def test_connect_sqs_builds_a_signing_client() -> None:
    conn = connect_sqs('AK', 'SK', region='eu-west-1', endpoint_url='http://127.0.0.1:1',
                       http_client=RecordingClient())
    assert conn.region == 'eu-west-1'
    assert conn.sqs_connection.meta.endpoint_url == 'http://127.0.0.1:1'
