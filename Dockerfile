# Build stage: compile TypeScript with the Nest CLI (swagger plugin included).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build && npm prune --omit=dev

# Runtime stage: production dependencies and the compiled app only; runs as the unprivileged node user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
# V8 sizes its heap from the host's memory and, left alone, lets garbage reach ~270 MB RSS under
# load before a full GC; an explicit old-space limit makes it collect early (~160 MB) at the same
# throughput (npm run bench). Raise it with the container's memory if ever needed.
ENV NODE_OPTIONS=--max-old-space-size=512
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The simulator's machines (SIMULATOR_STATE_DIR): a volume mounted here takes this owner on creation.
RUN mkdir -p /app/.data/simulator && chown -R node:node /app/.data
USER node
EXPOSE 3000
CMD ["node", "dist/src/main.js"]
