# Images of the FLASH co-design service and its device agent (multi-stage).
#
#   docker build --target server -t flash-server .
#   docker build --target agent  -t flash-agent .
#
# The agent image carries the ONNX Runtime library from the PyPI wheel, fetched the same way as
# scripts/fetch-onnxruntime.sh does (pinned version, CPU build).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY core core
COPY server server
COPY agent agent
COPY migrations migrations
COPY profiles profiles
COPY openapi openapi
RUN cargo build --release --locked -p flash-server -p flash-agent

FROM python:3.11-slim-bookworm AS onnxruntime
ARG ORT_VERSION=1.31.1
RUN pip download --no-deps --only-binary=:all: --dest /wheel "onnxruntime==${ORT_VERSION}" \
 && python -c "import glob, zipfile; zipfile.ZipFile(glob.glob('/wheel/*.whl')[0]).extract('onnxruntime/capi/libonnxruntime.so.${ORT_VERSION}', '/ort')"

FROM debian:bookworm-slim AS server
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home /data --create-home flash
COPY --from=build /src/target/release/flash /usr/local/bin/flash
USER flash
WORKDIR /data
ENV FLASH_LISTEN=0.0.0.0:8080 FLASH_DATA_DIR=/data FLASH_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["flash"]
CMD ["serve"]

FROM debian:bookworm-slim AS agent
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home /var/lib/flash-agent --create-home flash
COPY --from=build /src/target/release/flash-agent /usr/local/bin/flash-agent
COPY --from=onnxruntime /ort/onnxruntime/capi/libonnxruntime.so.1.31.1 /usr/local/lib/libonnxruntime.so.1.31.1
COPY profiles /etc/flash/profiles
USER flash
WORKDIR /var/lib/flash-agent
ENV ORT_DYLIB_PATH=/usr/local/lib/libonnxruntime.so.1.31.1 FLASH_PROFILES_DIR=/etc/flash/profiles \
    FLASH_AGENT_STATE_DIR=/var/lib/flash-agent/state
ENTRYPOINT ["flash-agent"]
