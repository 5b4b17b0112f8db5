"""The image's HEALTHCHECK: ``python -m deploy.healthcheck [web|worker]``, exit 0 when healthy, 1 when not.

One image runs the web app and the worker, so one check serves both. The role is the argument, or, without one,
``worker`` when the container's main process runs ``worker.py`` and ``web`` otherwise.

- web: ``GET /api/health`` on the port the app listens on (``KAMREVIEW_WEB_PORT``); it answers 200 only after a
  query on the database worked.
- worker: ``GET`` on the Temporal SDK's Prometheus endpoint (``KAMREVIEW_WORKER_METRICS_ADDRESS``, host:port),
  which the worker's runtime serves; unset, there is nothing to ask, and the worker counts as healthy.

Standard library only: it runs every few seconds, so it must start in milliseconds and import nothing of the app.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

TIMEOUT_S = 4
WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}


def _local(host: str) -> str:
    """Where to reach a server bound to ``host`` from inside its own container (a wildcard: loopback)."""
    host = WILDCARDS.get(host.strip(), host.strip())
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def role_of_container(cmdline: Path = Path("/proc/1/cmdline")) -> str:
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return "web"
    return "worker" if any(a.endswith(b"worker.py") for a in args) else "web"


def target(role: str, env: Mapping[str, str]) -> str | None:
    """The URL to ask, or None when the role has nothing to check."""
    if role == "web":
        return f"http://{_local(env.get('KAMREVIEW_WEB_HOST', '127.0.0.1'))}:{env.get('KAMREVIEW_WEB_PORT', '8000')}/api/health"
    if role == "worker":
        address = env.get("KAMREVIEW_WORKER_METRICS_ADDRESS", "").strip()
        if not address:
            return None
        host, _, port = address.rpartition(":")
        return f"http://{_local(host)}:{port}/metrics"
    raise SystemExit(f"unknown role {role!r}: web or worker")


def check(url: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 - a local http URL we built
            return response.status == 200, f"{url}: {response.status}"
    except urllib.error.HTTPError as err:
        return False, f"{url}: {err.code}"
    except OSError as err:
        return False, f"{url}: {err}"


def main(argv: list[str]) -> int:
    role = argv[0] if argv else role_of_container()
    url = target(role, os.environ)
    if url is None:
        print(f"{role}: nothing to check (KAMREVIEW_WORKER_METRICS_ADDRESS is unset)")
        return 0
    ok, detail = check(url)
    print(detail)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
