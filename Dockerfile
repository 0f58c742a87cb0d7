# syntax=docker/dockerfile:1

# ---- build: install everything, compile TypeScript, then keep only what runs ----
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json knexfile.ts ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build \
 # The container always gets DATABASE_URL, so the embedded PostgreSQL binaries (optional deps) stay out.
 && npm prune --omit=dev --omit=optional

# ---- runtime: no compiler, no dev dependencies, not root ----
FROM node:24-bookworm-slim AS runtime
# V8's young generation as Node 20 sized it: Node 24's larger default peaked a surge at 370 MB RSS, this at
# 290 MB, for the same CPU per request (README: Benchmark). deploy/k8s/configmap.yaml repeats it, since a
# NODE_OPTIONS there replaces this one.
ENV NODE_ENV=production \
    PORT=3000 \
    NODE_OPTIONS=--max-semi-space-size=16
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./package.json
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
USER node
EXPOSE 3000
# Readiness: database reachable and every migration applied.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Migrations are applied at start-up (MIGRATE_ON_START=true); SIGTERM drains in-flight requests.
CMD ["node", "dist/src/main.js"]
