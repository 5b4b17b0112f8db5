"""Routers per role: each module has ``api`` (JSON, in the OpenAPI document) and ``pages`` (HTML)."""
