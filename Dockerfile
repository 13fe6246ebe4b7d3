# warded container image: `docker build -t warded:0.1.0 .`
#
# Two stages. `build` turns this checkout into wheels (warded and every dependency); `runtime` installs
# them from that local directory only (--no-index), so nothing is fetched while the runtime image is made.
# The image runs as an unprivileged user and works with a read-only root filesystem: the policy is mounted
# read-only at /etc/warded, secrets (audit signing key, DSNs) arrive as files or environment variables, and
# the only writable places are /tmp and /var/lib/warded (mount a tmpfs or volume there; SQLite deployments
# keep their database in it). See docs/deployment.md.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 warded \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/warded --no-create-home \
      --shell /usr/sbin/nologin warded \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/warded \
 && install -d -o root -g root -m 0755 /etc/warded
COPY --from=build /wheels /wheels
# Byte-compile at install time: a read-only root filesystem cannot take __pycache__ later. No version pin
# (hadolint DL3013): --no-index installs only the wheels the build stage made from this very checkout.
# hadolint ignore=DL3013
RUN pip install --no-index --find-links /wheels --compile warded && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/warded
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["warded"]
CMD ["serve", "--policy", "/etc/warded/warded.yaml", "--host", "0.0.0.0", "--port", "8080", "--public"]
