"""A protocol-level button that takes over-the-air updates the way the firmware does
(firmware/app/ota.py): on an offer it asks for the signed manifest, checks it with
protocols/release.py, then asks one part at a time for the files whose SHA-256 differs from the
ones it runs, checks each, "switches", sends a heartbeat from the new release, reports its trial
and waits for the server's confirm. For fleets of thousands in one process (no flash, no slots)."""
from __future__ import annotations

import asyncio
import hashlib
import time

from protocols import ota, release, topics
from protocols.rejection import Rejection
from simulators.fleet.button import SimButton
from simulators.fleet.device import log

PART_TIMEOUT_S = 5.0


class OtaSimButton(SimButton):
    def __init__(self, *a, public_key: bytes, board: str = "sim", version: str = "1.0.0",
                 files: dict[str, str] | None = None, **kw):
        super().__init__(*a, **kw)
        self.public_key = public_key
        self.board = board
        self.version = version
        self.files = dict(files or {})           # path -> sha256 of the release it runs
        self.bytes_in = 0                        # part bytes received
        self.requests = 0
        self.states: list[str] = []
        self.updated_at: float | None = None
        self._part: asyncio.Future | None = None
        self._asked: tuple[str, int] | None = None
        self._confirm: asyncio.Future | None = None
        self._update: asyncio.Task | None = None

    def fw(self) -> str:
        return "button-" + self.version

    def health(self) -> dict:
        return dict(super().health(), fw=self.fw())

    def _on_message(self, client, topic, payload, qos, properties):
        if topic != topics.ota_down(self.device_id):
            return super()._on_message(client, topic, payload, qos, properties)
        m = ota.parse_down(payload)
        if isinstance(m, Rejection):
            self.rejected_downlink.append(m)
            return 0
        if m["t"] == "offer" and self._update is None:
            self._update = asyncio.ensure_future(self._run(m["ver"], m["trial_s"]))
            self._tasks.append(self._update)
        elif m["t"] == "part" and self._part is not None and not self._part.done() \
                and self._asked == (m["path"], m["off"]):
            self._part.set_result(m)
        elif m["t"] == "confirm" and self._confirm is not None and not self._confirm.done():
            self._confirm.set_result(m)
        return 0

    def _report(self, ver: str, state: str, why: str | None = None, selftest: bool | None = None) -> None:
        self.states.append(state)
        self.client.publish(topics.ota_up(self.device_id), ota.report(self.device_id, ver, state, self.fw(), why,
                                                                      selftest), qos=1)

    async def _fetch(self, ver: str, path: str) -> bytes:
        data = bytearray()
        total = None
        while total is None or len(data) < total:
            n = ota.PART_MAX if total is None else min(ota.PART_MAX, total - len(data))
            self._asked = (path, len(data))
            self._part = asyncio.get_running_loop().create_future()
            self.requests += 1
            self.client.publish(topics.ota_up(self.device_id), ota.get(self.device_id, ver, path, len(data), n), qos=0)
            try:
                m = await asyncio.wait_for(self._part, PART_TIMEOUT_S)
            except asyncio.TimeoutError:
                continue                          # asked again, like the firmware
            data += m["data"]
            self.bytes_in += len(m["data"])
            total = m["total"]
        return bytes(data)

    async def _run(self, ver: str, trial_s: int) -> None:
        try:
            self._report(ver, "offered")
            body = await self._fetch(ver, release.MANIFEST)
            sig = await self._fetch(ver, release.SIGNATURE)
            m, why = release.open_manifest(body, sig, self.public_key)
            why = why or release.upgrade_problem(m, self.board, self.version, m["mpy"])
            if why:
                return self._report(ver, "refused", why)
            self._report(ver, "downloading")
            staged = {}
            for e in release.files_for(m, self.board):
                if self.files.get(e["path"]) == e["sha256"]:
                    staged[e["path"]] = e["sha256"]
                    continue
                data = await self._fetch(ver, e["path"])
                why = release.file_problem(e, len(data), hashlib.sha256(data).hexdigest())
                if why:
                    return self._report(ver, "refused", why)
                staged[e["path"]] = e["sha256"]
            self._report(ver, "switched")
            old = (self.version, self.files)
            self.version, self.files = ver, staged
            self._confirm = asyncio.get_running_loop().create_future()
            self.send_health()
            self._report(ver, "trial", None, True)
            try:
                await asyncio.wait_for(self._confirm, trial_s)
            except asyncio.TimeoutError:
                self.version, self.files = old
                return self._report(ver, "rolled_back", "no_confirm within %ss" % trial_s)
            self.updated_at = time.monotonic()
            self._report(ver, "confirmed")
        except Exception as e:        # a simulator bug must show, not hang the fleet silently
            log.exception("update of %s failed", self.device_id)
            self._report(ver, "refused", "simulator " + repr(e)[:60])
        finally:
            self._update = None

