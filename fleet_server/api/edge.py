"""The web edge, one ASGI middleware around the whole app: security headers on every HTTP answer
(console, API, errors alike) and the HTTP request metrics.

Headers (docs/deploy.md, "HTTPS and the reverse proxy"):
- Content-Security-Policy: scripts, styles, fonts and connections from this origin only; no inline
  script or style (the console keeps every script and style in its files); images also from the
  configured map tile server; framing refused (frame-ancestors 'none', and X-Frame-Options for
  older browsers);
- X-Content-Type-Options: nosniff; Referrer-Policy: no-referrer (incident URLs stay in the center);
- Strict-Transport-Security on answers that went over HTTPS (directly, or through a proxy in
  http.forwarded_allow_ips that said X-Forwarded-Proto: https).

Metrics: siaga_http_requests_total{method,route,status} and siaga_http_request_duration_seconds
{method,route}, by route template (`/api/v1/incidents/{incident_id}`, never the id itself);
a path no route matches is counted as route="unmatched"."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from fleet_server.metrics import HTTP_BUCKETS, Metrics
from fleet_server.settings import Settings

REQUESTS = "siaga_http_requests_total"
DURATION = "siaga_http_request_duration_seconds"


def content_security_policy(tile_url: str) -> str:
    img = ["'self'", "data:", "blob:"]
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "a"))
        if parts.scheme in ("http", "https") and parts.hostname:
            # Leaflet's {s} subdomains: allow the tile server's whole domain.
            host = parts.netloc.replace("a.", "*.", 1) if "{s}." in tile_url else parts.netloc
            img.append(f"{parts.scheme}://{host}")
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'", f"img-src {' '.join(img)}",
        "font-src 'self'", "connect-src 'self'", "object-src 'none'", "base-uri 'none'",
        "form-action 'self'", "frame-ancestors 'none'",
    ])


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    return [(b"content-security-policy", content_security_policy(settings.console.tile_url).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin")]


class Edge:
    def __init__(self, app, settings: Settings, metrics: Metrics):
        self.app = app
        self.headers = security_headers(settings)
        self.hsts = (b"strict-transport-security", f"max-age={settings.http.hsts_s}; includeSubDomains".encode()) \
            if settings.http.hsts_s else None
        self.metrics = metrics
        metrics.counter(REQUESTS, "HTTP requests answered, by method, route template and status",
                        ["method", "route", "status"])
        metrics.histogram(DURATION, "HTTP answer time by method and route template", HTTP_BUCKETS,
                          ["method", "route"])

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = [500]
        extra = self.headers + ([self.hsts] if self.hsts and scope.get("scheme") == "https" else [])

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in extra if h[0] not in present]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            template = route_template(scope)
            method = scope.get("method", "?")
            self.metrics.inc(REQUESTS, method=method, route=template, status=str(status[0]))
            self.metrics.observe(DURATION, time.perf_counter() - started, method=method, route=template)


def route_template(scope) -> str:
    """The matched route's path template with the prefix of the router it sits in
    (`/api/v1/incidents/{incident_id}`), or "unmatched"."""
    route = scope.get("route")
    fmt = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not fmt:
        return "unmatched"
    path = scope.get("path", "")
    try:
        concrete = fmt.format(**{k: str(v) for k, v in (scope.get("path_params") or {}).items()})
    except (KeyError, IndexError, ValueError):
        return fmt
    return path[:len(path) - len(concrete)] + fmt if concrete and path.endswith(concrete) else fmt
