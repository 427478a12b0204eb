# syntax=docker/dockerfile:1
# l2vip image: `docker build -t REGISTRY/l2vip:0.1.0 .` (see docs/kubernetes.md).
# One image for both `l2vip controller` and `l2vip speaker`.

# --- build: compile the TypeScript and the AF_PACKET addon -----------------------------------
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# The image carries Node's headers under /usr/local/include/node: node-gyp uses them instead of
# downloading them.
ENV npm_config_nodedir=/usr/local
WORKDIR /app

# Dependencies first (a layer that survives source edits). --ignore-scripts: the package's own
# install/prepare scripts need the sources below; no production dependency has install scripts.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts

COPY native/afpacket/binding.gyp native/afpacket/binding.gyp
COPY native/afpacket/src native/afpacket/src
RUN npm run install

COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY bin bin
RUN npm run build \
 && npm prune --omit=dev

# --- runtime: Node, the built files, production dependencies, and the host tools -------------
FROM node:20-bookworm-slim
# iproute2 and nftables: local delivery (--local-delivery) adds a route and an ARP filter rule.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 nftables \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/native/afpacket/build/Release/afpacket.node ./native/afpacket/build/Release/afpacket.node
# Root inside the container: the speaker's pod adds only NET_RAW and NET_ADMIN and drops every
# other capability; the controller's pod runs as user 65534.
USER 0
# The node flags of bin/l2vip.js's #! line (a test checks they agree).
ENTRYPOINT ["node", "/app/bin/l2vip.js"]
CMD ["--help"]
