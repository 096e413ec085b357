# syntax=docker/dockerfile:1
#
# The consent gateway as a container image: `gateway serve` as a non-root user.
#
# Nothing secret is baked in: signing keys, the database password and the mTLS
# certificates come at run time from volumes and secrets (see docker-compose.yml
# and deploy/secrets/README.md). Build from the repository root:
#
#     docker build -t consent-gateway:local .

ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:22-slim

# -- assets: the KERN UX design system the web pages link to (npm, no dev packages)
FROM ${NODE_IMAGE} AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# -- build: a virtualenv with the dependencies and the project
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /app
# Dependencies first, from pyproject.toml itself, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
COPY gateway ./gateway
COPY adapters ./adapters
# Editable on purpose: the gateway finds policies/, node_modules/ and its web
# templates relative to its source tree (gateway.settings.REPOSITORY_ROOT),
# so the packages stay in /app, beside the data directories they read.
RUN pip install --no-deps --editable . \
    && python -m compileall -q gateway adapters

# -- runtime
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="consent-gateway" \
      org.opencontainers.image.description="Consent gateway between municipalities and jobcenters" \
      org.opencontainers.image.licenses="EUPL-1.2"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8000 \
    GATEWAY_DATA_DIR=/var/lib/gateway/data
# A fixed numeric uid, so volumes and orchestrators (runAsNonRoot) can rely on it.
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --home-dir /var/lib/gateway \
        --no-create-home --shell /usr/sbin/nologin gateway \
    && install -d -o gateway -g gateway -m 0750 /var/lib/gateway /var/lib/gateway/data \
    && install -d -o gateway -g gateway -m 0700 /var/lib/gateway/keys
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app ./
COPY policies ./policies
COPY openapi ./openapi
COPY --from=assets /build/node_modules/@kern-ux ./node_modules/@kern-ux
USER 10001:10001
EXPOSE 8000
# Plain HTTP on the container port: TLS ends at the load balancer in front.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('GATEWAY_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["gateway"]
CMD ["serve"]
