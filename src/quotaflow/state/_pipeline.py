"""``ScriptPipeline``: the script calls made in one turn of the event loop, in one round trip.

Under load many calls claim and release deployments at the same moment; sending each script on
its own costs a round trip and most of a millisecond of CPU in the Redis client. Calls made
before the loop turns are queued and then sent together as one pipeline (not a transaction:
each script is atomic on its own), and each caller gets its own answer. A script Redis no longer
knows (Redis restarted) is loaded and only the calls that hit that error are sent again.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError, ResponseError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis
    from redis.asyncio.connection import AbstractConnection
    from redis.commands.core import AsyncScript

__all__ = ["ScriptPipeline"]

_Call = tuple["AsyncScript", "Sequence[str | int]", "asyncio.Future[Any]"]


class ScriptPipeline:
    """Batches ``EVALSHA`` calls per event-loop turn over one client."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._lock = asyncio.Lock()
        self._connection: AbstractConnection | None = None
        self._pending: list[_Call] = []
        self._sending: set[asyncio.Task[None]] = set()

    def call(self, script: AsyncScript, args: Sequence[str | int]) -> asyncio.Future[Any]:
        """Queue one script call; its answer (or error) arrives in the returned future."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((script, args, future))
        return future

    async def aclose(self, timeout_s: float) -> None:
        """Wait for the batches already sent, at most ``timeout_s``; close the connection."""
        if self._sending:
            await asyncio.wait(self._sending, timeout=timeout_s)
        if self._connection is not None:
            await self._connection.disconnect()
            self._connection = None

    async def reset(self) -> None:
        """Drop the connection (it may have died with an outage); the next batch opens one."""
        if self._connection is not None and not self._lock.locked():
            connection, self._connection = self._connection, None
            await connection.disconnect()

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Call]) -> None:
        try:
            results = await self._execute(batch)
        except BaseException as error:  # every caller gets the failure, even a cancellation
            failure = error if isinstance(error, Exception) else ConnectionError(repr(error))
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            if not isinstance(error, Exception):
                raise
            return
        for (_, _, future), result in zip(batch, results, strict=True):
            if future.done():
                continue  # its caller stopped waiting (timed out or went away)
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _execute(self, batch: list[_Call]) -> list[Any]:
        results = await self._run(batch)
        unknown = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if unknown:
            for script in {id(batch[i][0]): batch[i][0] for i in unknown}.values():
                await self._client.script_load(script.script)
            again = await self._run([batch[i] for i in unknown])
            for index, result in zip(unknown, again, strict=True):
                results[index] = result
        return results

    async def _run(self, batch: list[_Call]) -> list[Any]:
        """Send the batch on this pipeline's own connection and read every reply in order.

        One connection, one batch at a time: the client's pool and pipeline machinery cost
        more CPU than the round trip itself, and batches grow while one is in flight.
        """
        async with self._lock:
            connection = self._connection
            if connection is None:
                pool = self._client.connection_pool
                connection = self._connection = pool.make_connection()  # type: ignore[no-untyped-call]
            try:
                packed = b"".join(
                    _command((b"EVALSHA", script.sha, 0, *args)) for script, args, _ in batch
                )
                await connection.send_packed_command(packed, check_health=False)
                results: list[Any] = []
                for _ in batch:
                    try:
                        results.append(await connection.read_response())
                    except ResponseError as error:
                        results.append(error)
            except BaseException:
                # Replies not read would be taken for the next batch's: start afresh.
                self._connection = None
                await connection.disconnect()
                raise
            return results


def _command(parts: Sequence[str | int | bytes]) -> bytes:
    """One command in Redis's protocol (RESP): an array of bulk strings.

    Written here because the client's general encoder costs several microseconds per argument,
    and a claim has a dozen of them.
    """
    chunks = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        chunks.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(chunks)
