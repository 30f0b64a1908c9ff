# syntax=docker/dockerfile:1
# Capstan image: the `capstan` CLI with every service built in. See docs/deployment.md.
#
#   docker build -t capstan .
#   docker run --rm capstan version
#   docker run --rm -e CAPSTAN_DATABASE_URL=… -e CAPSTAN_NATS_URL=… -e CAPSTAN_REDIS_URL=… -p 4001:4001 capstan gateway
#   docker run --rm -e … -e CAPSTAN_POLICY_FILE=/etc/capstan/policy.yaml \
#     -v "$PWD/policy.yaml:/etc/capstan/policy.yaml:ro" -p 50051:50051 capstan safety-kernel

ARG NODE_IMAGE=node:22-bookworm-slim
ARG PNPM_VERSION=12

# ---- build: install all dependencies, compile, then drop the dev-only ones ----------------------------------
FROM ${NODE_IMAGE} AS build
ARG PNPM_VERSION
RUN npm install -g "pnpm@${PNPM_VERSION}" && pnpm --version
WORKDIR /app

# Fetch packages from the lockfile alone, so this layer is reused until the lockfile changes.
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
# Patched dependencies (pnpm-workspace.yaml `patchedDependencies`, see patches/README.md) are applied on install.
COPY patches ./patches
RUN pnpm fetch

COPY . .
# Build, then re-link with production dependencies only (typescript, vitest, biome, buf ... are not shipped);
# confirmModulesPurge=false lets pnpm replace node_modules without asking for a TTY.
RUN pnpm install --offline --frozen-lockfile \
 && pnpm exec tsc -b \
 && pnpm install --offline --frozen-lockfile --prod --config.confirmModulesPurge=false \
 && node services/cli/dist/main.js version

# ---- runtime ---------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    # capstan dev keeps dev.json (and, without DATABASE_URL, an embedded database) here.
    CAPSTAN_DEV_DIR=/var/lib/capstan \
    # Containers must listen on all interfaces to be reachable through published ports.
    CAPSTAN_LISTEN_HOST=0.0.0.0
WORKDIR /app
COPY --from=build --chown=node:node /app /app
RUN mkdir -p /var/lib/capstan && chown node:node /var/lib/capstan \
 && ln -s /app/services/cli/dist/main.js /usr/local/bin/capstan
USER node
VOLUME ["/var/lib/capstan"]
# gateway (REST/WebSocket/SSE), safety kernel (Connect/gRPC/gRPC-Web), then the scheduler's, the gateway's and the
# kernel's metrics: the DEFAULT_PORTS of packages/config/src/defaults.ts, which the services listen on unless
# CAPSTAN_*_PORT says otherwise.
EXPOSE 4001 50051 9090 9091 9092
ENTRYPOINT ["node", "/app/services/cli/dist/main.js"]
# All registered services in one process, against the NATS/Redis/Postgres given by the environment; one service
# replica instead: `gateway`, `safety-kernel` or `scheduler` (see docker-compose.yml).
CMD ["dev", "--no-infra"]
