"""The fleet server with the operator console mounted, as a subprocess, for the console's browser tests.

Until create_app includes the console router itself (one line, see docs/console.md), this starts the
same app the `siaga serve` command builds and adds the router; once it is included, nothing is added.
Everything else (login, api, stop, kill) is tests.support.server.FleetServer's."""
from __future__ import annotations

import subprocess
import sys
import time

import httpx

from tests.support.paths import REPO
from tests.support.server import ADMIN_PASS, ADMIN_USER, FleetServer


def serve_with_console(port: int) -> None:
    """Runs in the subprocess: what `siaga serve` does, plus the console router when missing."""
    import uvicorn

    from fleet_server import logs
    from fleet_server.app import create_app
    from fleet_server.console.router import router
    from fleet_server.settings import Settings

    settings = Settings()
    logs.setup(settings.log_level, settings.log_json)
    app = create_app(settings)
    if not any(getattr(r, "path", None) == "/console/" for r in app.routes):
        app.include_router(router)
    # The feed handler waits on its event queue and so never notices a browser that went away;
    # without a bound, every stop waits uvicorn's whole shutdown for those sockets (reported).
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, timeout_graceful_shutdown=1)


class ConsoleServer(FleetServer):
    def start(self, timeout: float = 30) -> "ConsoleServer":
        import os
        env = dict(os.environ)
        env.update(self.env)
        self._logf = open(self.log, "ab")
        code = f"from tests.support.browser_server import serve_with_console; serve_with_console({self.port})"
        self.proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=self._logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fleet server exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            try:
                r = httpx.get(self.base_url + "/healthz", timeout=1)
                if r.status_code == 200 and r.json()["broker_link"]:
                    self.token = self.login(ADMIN_USER, ADMIN_PASS)
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"fleet server not ready within {timeout}s:\n{self.output()[-3000:]}")
