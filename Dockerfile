# meshdns image: `meshdns controller`, `meshdns agent` and the `meshdns capture` init container.
# docker build -t meshdns:latest .

# Build: the TypeScript compiler and esbuild, from the locked dev dependencies; only src/ is
# compiled, then bundled (scripts/bundle.mjs: bin/meshdns runs the bundle, from its code cache).
FROM node:20-bookworm-slim AS build
# A C compiler for the native UDP batch socket (src/netio/, built against this Node's headers); without
# it the build says so and meshdns answers UDP on node:dgram.
RUN apt-get update \
  && apt-get install -y --no-install-recommends gcc libc6-dev \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run tsc before the sources are copied in.
# The secret npm-ca: where the npm registry is reached through a TLS-intercepting proxy, its CA
# (`--secret id=npm-ca,src=ca.pem`, docker or buildah); mounted for this step only, never in a layer.
RUN --mount=type=secret,id=npm-ca \
  if [ -s /run/secrets/npm-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm-ca; fi \
  && npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
# bin/ and examples/ for the bundle's training run, which writes each bundle's V8 code cache.
COPY bin ./bin
COPY examples ./examples
RUN npx tsc -p tsconfig.json && node dist/src/netio/build.js && node scripts/bundle.mjs

# Runtime: production dependencies, the compiled code, the CLI and the .proto files the xDS code
# loads at start (found by walking up from dist/src/xds to /app/proto).
FROM node:20-bookworm-slim
# iptables and iproute2 for `meshdns capture --apply` (the init container); unused otherwise.
RUN apt-get update \
  && apt-get install -y --no-install-recommends iptables iproute2 \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` runs tsc, which --omit=dev does not install.
RUN --mount=type=secret,id=npm-ca \
  if [ -s /run/secrets/npm-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm-ca; fi \
  && npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/bundle ./dist/bundle
COPY bin ./bin
COPY proto ./proto
# The `node` user of the base image, by number so that `runAsNonRoot` can verify it. The agent
# sidecar runs as 1337 and the capture init container as 0, set in their pod specs.
USER 1000:1000
ENTRYPOINT ["/app/bin/meshdns"]
