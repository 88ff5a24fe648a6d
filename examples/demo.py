"""Publish and consume real messages on the embedded in-memory broker.

Run it with ``python examples/demo.py``; it needs no server.
"""
from __future__ import annotations

import socket

from kombu import Connection, Consumer, Exchange, Producer, Queue

news = Exchange('news', type='topic')
queues = [
    Queue('stock', news, routing_key='*.stock.#'),
    Queue('weather', news, routing_key='weather.#'),
]

published = [
    ('usd.stock', {'symbol': 'ACME', 'price': 12.5}, 'json', None),
    ('eur.stock.db', {'symbol': 'DBK', 'price': 9.75}, 'json', 'zlib'),
    ('weather.oslo', 'snow, -3 C', 'json', None),
    ('stock.nasdaq', 'no queue binds this key: it is dropped', 'json', None),
]


def main() -> None:
    received: list[tuple[str, str, object]] = []

    def on_message(body: object, message) -> None:
        received.append((message.delivery_info['routing_key'],
                         message.content_type, body))
        message.ack()

    with Connection('memory://') as conn:
        print(f'connected to {conn.as_uri()} (transport {conn.transport_cls})')
        with conn.channel() as channel:
            producer = Producer(channel, exchange=news)
            for key, body, serializer, compression in published:
                producer.publish(body, routing_key=key, serializer=serializer,
                                 compression=compression, declare=queues)
                print(f'published  {key:<14} {body!r}'
                      + (f' ({compression})' if compression else ''))
            with Consumer(channel, queues, callbacks=[on_message]):
                while True:
                    try:
                        conn.drain_events(timeout=0.2)
                    except socket.timeout:
                        break

        with conn.SimpleQueue('demo-simple') as simple:
            simple.put({'hello': 'world'})
            message = simple.get(timeout=1)
            print(f'simple queue got {message.payload!r}')
            message.ack()

    for key, content_type, body in received:
        print(f'consumed   {key:<14} {body!r} [{content_type}]')
    print(f'{len(published)} published, {len(received)} consumed '
          f'(the stock.nasdaq message matched no binding, as AMQP topic rules say)')


if __name__ == '__main__':
    main()
