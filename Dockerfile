# thresher serve: SCIM bridge, status API, dashboard and scheduled syncs (docs/serve.md).
# Build: docker build -t thresher .    Run: see compose.yaml.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
# No root at run time: a fixed, unprivileged user owns only the data directory.
RUN useradd --system --uid 10001 --home-dir /var/lib/thresher --create-home thresher
COPY --from=build /install /usr/local
ENV THRESHER_SERVE_HOST=0.0.0.0 \
    THRESHER_SERVE_PORT=8080 \
    THRESHER_SERVE_LOG_FORMAT=json \
    THRESHER_DATABASE_URL=sqlite:////var/lib/thresher/thresher.db \
    PYTHONUNBUFFERED=1
USER 10001
WORKDIR /var/lib/thresher
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["thresher"]
CMD ["serve"]
