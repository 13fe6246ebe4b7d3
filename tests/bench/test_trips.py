"""The wire-level round-trip counter of ``warded bench scale``: one trip per request/answer exchange, however
the request is split, and a pipeline counts once."""

from __future__ import annotations

import redis

from warded.bench._trips import TripCounter


def test_counts_exchanges_not_commands(redis_url: str) -> None:
    host, port = "127.0.0.1", int(redis_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
    with TripCounter(host, port) as counter:
        client = redis.Redis(host="127.0.0.1", port=counter.port)
        try:
            client.ping()  # connect + PING (and the client's setup, if any)
            counter.reset()
            for _ in range(5):
                client.ping()
            assert counter.trips == 5
            with client.pipeline(transaction=False) as pipe:
                for _ in range(10):
                    pipe.ping()
                pipe.execute()
            assert counter.reset() == 6  # ten commands, one exchange
        finally:
            client.close()
