# A non-blocking TCP client link over the socket and select modules, which every MicroPython port
# has. Ports add up() (is Wi-Fi / the LAN there?) and, where they have it, TLS.
import socket
import select

EINPROGRESS = (115, 119, 11)


def _der(cert):
    # MicroPython's ssl takes a CA as DER; provisioning writes the usual PEM.
    if not cert.startswith(b"-----BEGIN"):
        return cert
    import binascii
    body = b"".join([ln for ln in cert.split(b"\n") if ln and not ln.startswith(b"-----")])
    return binascii.a2b_base64(body)


class TcpNet:
    def __init__(self):
        self._addr = {}

    def up(self):
        return True

    def _resolve(self, host, port):
        # getaddrinfo blocks (lwIP has no async DNS); cache it so only the first connect to a
        # host name pays. An IP literal, as in our provisioning, resolves without the network.
        key = (host, port)
        if key not in self._addr:
            self._addr[key] = socket.getaddrinfo(host, port)[0][-1]
        return self._addr[key]

    def open(self, host, port):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(self._resolve(host, port))
        except OSError as e:
            if not (e.args and e.args[0] in EINPROGRESS):
                s.close()
                raise
        return s

    def writable(self, sock):
        """True once connected, False while connecting, None when the connect failed."""
        p = select.poll()
        p.register(sock, select.POLLOUT)
        got = p.poll(0)
        if not got:
            return False
        ev = got[0][1]
        if ev & (select.POLLERR | select.POLLHUP):
            return None
        return bool(ev & select.POLLOUT)

    ca = None   # CA certificate bytes (PEM or DER), set from the provisioning's ca_file

    def secure(self, sock, host):
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if self.ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata=_der(self.ca))
        else:
            ctx.verify_mode = ssl.CERT_NONE
        # Non-blocking handshake: it advances inside later send/recv calls (EAGAIN meanwhile).
        return ctx.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)

    def wait(self, ms, sock=None):
        if sock is None:
            import time
            time.sleep_ms(ms)
            return
        # Keep one poll object; re-register only when the link opened a new socket.
        if getattr(self, "_polled", None) is not sock:
            self._poller = select.poll()
            self._poller.register(sock, select.POLLIN)
            self._polled = sock
        self._poller.poll(ms)
