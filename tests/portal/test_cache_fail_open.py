"""Redis away: the API's rate-limit cache lets calls through instead of answering 500 (docs/fault-drills.md)."""

import socket

from portal.cache import FailOpenRedisCache


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_reads_miss_and_writes_are_dropped_while_redis_is_away():
    cache = FailOpenRedisCache(
        f"redis://127.0.0.1:{_closed_port()}/0", {"OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}
    )
    assert cache.get("throttle_api_key_1", []) == []
    assert cache.set("throttle_api_key_1", [1.0], 60) is None
    assert cache.add("k", 1) is False
    assert cache.delete("k") is False
