"""GT06 over TCP: one asyncio server holds every tracker's connection.

Per connection: a FrameReader cuts the stream; a login must come first and name a registered
IMEI (otherwise the connection is closed unanswered, as the device then retries later); each
frame's reports go to the Pipeline in a worker thread (the database is blocking) and the device's
answer is written only after that returns, so an alarm is acknowledged only once its incident is
committed. A connection silent for idle_timeout_s (a tracker sends a heartbeat every few minutes;
a half-open one never again) is closed, so is one that takes longer than frame_timeout_s to finish
a frame it began (a slow sender), one that does not take its answers, and one that sends garbage:
only that one."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from protocols.rejection import Rejection, UNKNOWN_DEVICE
from fleet_server.adapters.binding import Pipeline
from fleet_server.adapters.gt06 import decoder
from fleet_server.adapters.gt06.framing import FrameReader
from fleet_server.logs import event

log = logging.getLogger("siaga.adapters.gt06")


class Gt06Server:
    def __init__(self, pipeline: Pipeline, host: str = "127.0.0.1", port: int = 5023,
                 idle_timeout_s: float = 600.0, strict_crc: bool = True, read_size: int = 2048,
                 frame_timeout_s: float = 30.0, write_timeout_s: float = 10.0):
        self.pipeline = pipeline
        self.host, self.port = host, port
        self.idle_timeout_s = idle_timeout_s
        self.frame_timeout_s = frame_timeout_s    # a frame begun must end within this (slow senders)
        self.write_timeout_s = write_timeout_s    # an answer the peer does not take in this: half-open
        self.strict_crc = strict_crc
        self.read_size = read_size
        self.connections = 0
        self.counts: Counter[str] = Counter()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set = set()

    async def start(self) -> "Gt06Server":
        self._server = await asyncio.start_server(self._serve, self.host, self.port, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]
        event(log, logging.INFO, "GT06 listener started", host=self.host, port=self.port)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            await self._server.wait_closed()

    def _reject(self, r: Rejection) -> None:
        self.pipeline.note("gt06", "frame", r)

    async def _flush(self, loop, writer, reports: list, answers: list, at: float) -> bool:
        """Deliver the queued reports (in a worker thread when they hold a fix: the units pipeline
        may write), then write the queued answers; False when the peer does not take them."""
        if any(r.kind == "pos" for r in reports):
            await loop.run_in_executor(None, self.pipeline.deliver, "gt06", list(reports), at)
        elif reports:
            self.pipeline.deliver("gt06", list(reports), at)
        for a in answers:
            writer.write(a)
        reports.clear()
        had = bool(answers)
        answers.clear()
        if had:
            try:
                await asyncio.wait_for(writer.drain(), self.write_timeout_s)
            except asyncio.TimeoutError:
                self.counts["closed.unread"] += 1
                return False
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        frames = FrameReader(strict_crc=self.strict_crc)
        imei = None
        loop = asyncio.get_running_loop()
        partial_since = None
        try:
            while True:
                wait = self.idle_timeout_s
                if partial_since is not None:
                    wait = min(wait, max(0.0, partial_since + self.frame_timeout_s - time.monotonic()))
                try:
                    data = await asyncio.wait_for(reader.read(self.read_size), wait)
                except asyncio.TimeoutError:
                    self.counts["closed.slow" if partial_since is not None else "closed.idle"] += 1
                    return
                if not data:
                    return
                # Frames without an alarm that arrive together go to the pipeline in one hand-off
                # (and are answered together after it); an alarm goes alone, answered only once its
                # incident is committed, so a refusal withholds that one answer.
                reports: list = []
                answers: list = []
                arrived = time.time()
                for f in frames.feed(data):
                    if isinstance(f, Rejection):
                        self._reject(f)
                        continue
                    now = time.time()
                    res = decoder.decode(f, imei, now)
                    if isinstance(res, Rejection):
                        self._reject(res)
                        continue
                    if res.imei is not None:
                        if not await self._flush(loop, writer, reports, answers, arrived):
                            return
                        if not await loop.run_in_executor(None, self.pipeline.known, "gt06", res.imei):
                            self._reject(Rejection(UNKNOWN_DEVICE, "IMEI %s is not registered" % res.imei))
                            self.counts["closed.unknown"] += 1
                            return
                        imei = res.imei
                    if res.note:
                        self.counts[res.note] += 1
                    if any(r.kind == "alarm" for r in res.reports):
                        if not await self._flush(loop, writer, reports, answers, arrived):
                            return
                        done = await loop.run_in_executor(None, self.pipeline.deliver, "gt06", res.reports, now)
                        if done.refused is not None:
                            # Not acknowledged: the tracker keeps the alarm and sends it again.
                            self._reject(done.refused)
                            continue
                    else:
                        reports += res.reports
                    if res.answer:
                        answers.append(res.answer)
                if not await self._flush(loop, writer, reports, answers, arrived):
                    return
                if frames.fatal is not None:
                    self.counts["closed.garbage"] += 1
                    return
                if not frames.buf:
                    partial_since = None
                elif partial_since is None:
                    partial_since = time.monotonic()
        except (ConnectionError, OSError):
            self.counts["closed.reset"] += 1
        finally:
            self.connections -= 1
            self._writers.discard(writer)
            writer.close()
