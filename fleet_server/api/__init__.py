"""HTTP API (/api/v1): FastAPI routers, OAuth2 bearer auth with roles, WebSocket live feed."""
