"""A TLS front for the test broker: terminates TLS with a throwaway self-signed certificate (made
by the openssl CLI) and forwards the bytes to the broker's plain listener, the way a TLS-enabled
production broker looks to a device. Loopback only; stop() ends the thread and every connection."""
from __future__ import annotations

import select
import socket
import ssl
import subprocess
import threading
from pathlib import Path


class TlsFront:
    def __init__(self, workdir: Path, broker_host: str, broker_port: int):
        workdir.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = workdir / "cert.pem", workdir / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key),
                        "-out", str(self.cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(self.cert, self.key)
        self.target = (broker_host, broker_port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.handshakes = 0
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                raw, _ = self.server.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._pipe, args=(raw,), daemon=True).start()

    def _pipe(self, raw):
        try:
            raw.settimeout(10)
            tls = self.ctx.wrap_socket(raw, server_side=True)
            self.handshakes += 1
            plain = socket.create_connection(self.target, timeout=5)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        self._socks += [tls, plain]
        tls.setblocking(False)
        plain.setblocking(False)
        try:
            while not self._stop.is_set():
                if tls.pending():
                    ready = [tls]
                else:
                    ready, _, _ = select.select([tls, plain], [], [], 0.2)
                for s in ready:
                    other = plain if s is tls else tls
                    try:
                        data = s.recv(4096)
                    except (ssl.SSLWantReadError, BlockingIOError):
                        continue
                    if not data:
                        return
                    other.setblocking(True)
                    other.sendall(data)
                    other.setblocking(False)
        except OSError:
            return
        finally:
            tls.close()
            plain.close()

    def stop(self):
        self._stop.set()
        self.server.close()
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass
        self._thread.join(5)
