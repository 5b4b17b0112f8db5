"""Logging for the web server, with secrets scrubbed as a second line of defence.

The first line is design: passwords and survey answers travel in request bodies (never logged),
survey tokens in the URL fragment (never sent to the server), session tokens in an HttpOnly cookie.
Should a secret still reach a log line (a client that puts ``?token=`` in a URL, say), this filter
masks it before any handler writes it.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

_SECRET_PARAM = re.compile(
    r"(?i)\b(password|passwd|pwd|token|access_token|csrf_token|session|kr_session|secret|key)=([^&\s\"']+)"
)
_SURVEY_FRAGMENT = re.compile(r"(/survey#)[A-Za-z0-9_-]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    return _SURVEY_FRAGMENT.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


class RedactSecrets(logging.Filter):
    """Masks ``password=...``, ``token=...`` and survey links in the final message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as it is
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def uvicorn_log_config(level: str = "info", fmt: str = "text", service: str = "kamreview-web") -> dict[str, Any]:
    """uvicorn's own logging configuration, with the redaction filter on every handler.

    ``fmt="json"`` (KAMREVIEW_LOG_FORMAT): every handler writes one JSON object per line
    (services.observability.JsonFormatter, with the request's id and route), and the root logger gets the same
    handler, so the embedded worker's and the libraries' lines are JSON too.
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": "webapp.logs.RedactSecrets"}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact")
    config["handlers"]["app"] = {"class": "logging.StreamHandler", "formatter": "default",
                                 "stream": "ext://sys.stderr", "filters": ["redact"]}
    config["loggers"]["kamreview"] = {"handlers": ["app"], "level": level.upper(), "propagate": False}
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        config["loggers"].setdefault(name, {})["level"] = level.upper()
    if fmt == "json":
        config["formatters"]["json"] = {"()": "services.observability.JsonFormatter", "service": service}
        for handler in config["handlers"].values():
            handler["formatter"] = "json"
        config["root"] = {"handlers": ["app"], "level": level.upper()}
    return config
