# Build stage: compile TypeScript (scripts/build.mjs, the swagger plugin included), and the web console.
# Node 24 LTS: within package.json "engines" (>= 20.19, what CI runs and every dependency accepts).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The workspaces' manifests (package.json "workspaces"): npm ci installs their dependencies too.
COPY sdk/package.json ./sdk/
COPY cli/package.json ./cli/
COPY web/package.json ./web/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/
COPY src ./src
COPY migrations ./migrations
# The web console (vite build into dist/web): its source, the SDK it calls through, the contract it reads limits from.
COPY web ./web
COPY sdk ./sdk
COPY openapi.json ./
# Production dependencies only, and no embedded-postgres (an optional dependency, with PostgreSQL
# binaries): the image always runs on DATABASE_URL, and the code loads that module only without one.
RUN npm run build && npm prune --omit=dev --omit=optional

# Runtime stage: production dependencies and the compiled app only; runs as the unprivileged node user.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Node's heap limits, the same file npm start reads (set NODE_OPTIONS to override them).
COPY node-options.env ./
# The simulator's machines (SIMULATOR_STATE_DIR): a volume mounted here takes this owner on creation.
RUN mkdir -p /app/.data/simulator && chown -R node:node /app/.data
USER node
EXPOSE 3000
# The API answers /api/health. A worker has no HTTP port: docker-compose.yml gives it its own check
# (its METRICS_PORT listener); elsewhere set HEALTHCHECK_URL, read by this check only, not by the app.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD node -e "fetch(process.env.HEALTHCHECK_URL || 'http://127.0.0.1:' + (process.env.PORT || 3000) + '/api/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["node", "--env-file=node-options.env", "dist/src/main.js"]
