"""Stopping the SMTP sink while its event loop is busy."""

import asyncio
import threading
import time

from sending import sink
from tests.support import free_port


def test_stop_with_busy_loop_returns(db, monkeypatch):
    monkeypatch.setattr(sink, "REPLY_WAIT_SECONDS", 0.2)
    controller = sink.start_sink("127.0.0.1", free_port())
    release = threading.Event()

    async def block_loop():
        # A blocking wait on purpose: the loop can run nothing else meanwhile.
        release.wait(timeout=10)

    asyncio.run_coroutine_threadsafe(block_loop(), controller.loop)
    time.sleep(0.05)
    threading.Timer(1.0, release.set).start()

    controller.stop()

    assert not controller.loop.is_running()
