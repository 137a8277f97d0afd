# Tổ trưởng: the bot in one slim image (docs/operations.md). Build: docker build -t totruong .
# Runs as the unprivileged user "totruong"; photos, exports and a SQLite database (if used) in /data.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot bot
COPY handlers handlers
COPY models models
COPY scheduler scheduler
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.12-slim
# pg_dump/pg_restore for `totruong backup` on PostgreSQL (the same major version as compose.yaml's server).
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin totruong \
    && mkdir -p /data \
    && chown totruong:totruong /data \
    && chmod 0700 /data
COPY --from=build /install /usr/local
WORKDIR /app
COPY config.toml ./
COPY forms forms
COPY locales locales
# Relative paths of config.toml are resolved from its folder (/app); the rest comes from the
# environment (compose.yaml, or docker run -e), secrets included.
ENV TOTRUONG_CONFIG=/app/config.toml \
    TOTRUONG_APP__DATA_DIR=/data \
    TOTRUONG_DATABASE__URL=sqlite+aiosqlite:////data/totruong.db \
    TOTRUONG_WEB__HOST=0.0.0.0 \
    TOTRUONG_WEB__PORT=8080 \
    TOTRUONG_WEB__SIMULATOR=false \
    TOTRUONG_APP__LOAD_DEMO_WHEN_EMPTY=false \
    PYTHONUNBUFFERED=1
USER totruong
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('TOTRUONG_WEB__PORT', '8080') + '/healthz', timeout=4)"]
ENTRYPOINT ["totruong"]
CMD ["run"]
