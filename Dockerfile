# The exporter's container image: the binary alone on a distroless base (glibc and CA roots,
# no shell), run as UID/GID 65532, its state in a volume so the root filesystem can be
# read-only.
#
# Connected machine (compiles in the Rust image):
#   podman build -t dockerhub_exporter .        # or: docker build -t dockerhub_exporter .
# Offline, from a binary built beforehand and a runtime base already in local storage (the
# Rust stage is then neither pulled nor built):
#   podman build --pull=never --build-arg BINARY=target/release/dockerhub_exporter \
#     --build-arg RUNTIME_BASE=localhost/my-base -t dockerhub_exporter .
# Podman needs --format docker to keep the HEALTHCHECK (the OCI format has none).

ARG RUST_IMAGE=docker.io/library/rust:1-slim-bookworm
ARG RUNTIME_BASE=gcr.io/distroless/cc-debian12
# A prebuilt binary, as a path in the build context; empty: compile it in the build stage.
ARG BINARY=

FROM ${RUST_IMAGE} AS build
ARG REVISION=
WORKDIR /src
COPY . .
# build.rs takes the commit from DOCKERHUB_EXPORTER_REVISION: the context has no .git.
RUN DOCKERHUB_EXPORTER_REVISION="${REVISION}" \
    cargo build --release --locked --bin dockerhub_exporter \
    && cp target/release/dockerhub_exporter /dockerhub_exporter

FROM scratch AS build-prebuilt
ARG BINARY=target/release/dockerhub_exporter
COPY ${BINARY} /dockerhub_exporter

# Nothing: copied below to make the state directory without a shell.
FROM scratch AS empty

# `build`, or `build-prebuilt` when BINARY is set; a builder skips the stage not chosen.
FROM build${BINARY:+-prebuilt} AS binary
# One instruction: buildah 1.28 fails a --layers=false build with a stage that only renames.
WORKDIR /

FROM ${RUNTIME_BASE}
# Cargo.toml's version (the container test checks that they agree).
ARG VERSION=0.1.0
ARG REVISION=
# The project names neither a repository nor a licence yet: pass them at build time.
ARG SOURCE=
ARG LICENSES=Apache-2.0
LABEL org.opencontainers.image.title="dockerhub_exporter" \
      org.opencontainers.image.description="Prometheus exporter for a Docker Hub inventory: every repository, tag and platform image of the given namespaces" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="${LICENSES}"
COPY --from=binary /dockerhub_exporter /dockerhub_exporter
# COPY creates the directory and --chown gives it to the exporter's user; a new volume
# takes its owner from it.
COPY --from=empty --chown=65532:65532 / /var/lib/dockerhub_exporter/
VOLUME /var/lib/dockerhub_exporter
USER 65532:65532
EXPOSE 9721
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s CMD ["/dockerhub_exporter", "healthcheck"]
ENTRYPOINT ["/dockerhub_exporter"]
# Arguments after the image name replace these: give --state.file again with them.
CMD ["--state.file", "/var/lib/dockerhub_exporter/state.json"]
