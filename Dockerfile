# syntax=docker/dockerfile:1
# The boxtrace server as an image: built in a Rust image, run in a slim Debian as a
# non-root user, with the sled data directory on a volume.
#
#   docker build -t boxtrace .
#   docker run -p 8080:8080 -e BOXTRACE_TOKEN_KEY="$(openssl rand -base64 48)" \
#     -v boxtrace-data:/var/lib/boxtrace boxtrace
#
# compose.yaml runs two of them on one PostgreSQL database.

# --- build ---------------------------------------------------------------------------
# The workspace's rust-version is 1.94; ring (TLS) needs the C compiler this image has.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target caches speed up rebuilds; the binary is copied out of the
# cache mount so that the next stage can take it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p boxtrace-http \
    && install -D target/release/boxtrace /out/boxtrace

# --- run -----------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 boxtrace \
    && useradd --system --uid 10001 --gid boxtrace --home-dir /var/lib/boxtrace \
       --shell /usr/sbin/nologin boxtrace \
    && install -d -o boxtrace -g boxtrace -m 0750 /var/lib/boxtrace
COPY --from=build /out/boxtrace /usr/local/bin/boxtrace
COPY boxtrace.example.toml /usr/share/doc/boxtrace/boxtrace.example.toml
COPY LICENSE /usr/share/doc/boxtrace/LICENSE

# Every setting is an environment variable (`boxtrace serve --help` lists them); these
# two fit a container. BOXTRACE_TOKEN_KEY has no default: pass it at run time.
ENV BOXTRACE_LISTEN=0.0.0.0:8080 \
    BOXTRACE_DATA_DIR=/var/lib/boxtrace
VOLUME ["/var/lib/boxtrace"]
EXPOSE 8080
USER boxtrace:boxtrace
WORKDIR /var/lib/boxtrace
# Docker's health is /readyz: 200 once the store is open and the server takes traffic (an
# unreachable PostgreSQL makes it unhealthy, not dead). The slim image has no curl, so
# bash's /dev/tcp asks, on the port of BOXTRACE_LISTEN.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${BOXTRACE_LISTEN##*:} && printf 'GET /readyz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
# SIGTERM stops it gracefully: traces and deliveries in flight finish first. Probes:
# GET /healthz (alive) and GET /readyz (takes traffic).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/boxtrace"]
CMD ["serve"]
