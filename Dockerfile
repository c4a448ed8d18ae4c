# syntax=docker/dockerfile:1
#
# Guildhall server image.
#   docker build -t guildhall .
#   docker run -p 8080:8080 -e JWT_SECRET=<32+ characters> -v guildhall-data:/data guildhall
#
# Debian (glibc) base on purpose: the uWebSockets.js native binaries need glibc, and the server
# refuses to start on the package's pure-JS fallback, so alpine (musl) cannot be used.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile TypeScript to dist/ ---------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first, so this layer is reused while only sources change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY engine ./engine
COPY protocol ./protocol
COPY storage ./storage
# tsc -p tsconfig.build.json: emits dist/{engine,protocol,storage}/**/*.js with the relative
# `.ts` imports rewritten to `.js`.
RUN npm run build

# ---- production: runtime dependencies + compiled output only -----------------------------------
FROM ${NODE_IMAGE} AS production
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/data
WORKDIR /app
# package.json is needed at runtime too: its "type": "module" makes dist/**/*.js ES modules.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The embedded database (PGlite, used when DATABASE_URL is unset) lives in /data. Create it owned
# by the unprivileged `node` user (uid 1000) before declaring the volume, so a fresh named volume
# inherits that ownership; a bind-mounted host directory must be writable by uid 1000.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node runs as PID 1 and handles SIGTERM itself (graceful shutdown: sockets closed with 4007,
# pending message writes committed, database closed).
CMD ["node", "dist/engine/main.js"]
