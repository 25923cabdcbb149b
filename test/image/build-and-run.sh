#!/usr/bin/env bash
# `npm run image:test`: builds the repository's Dockerfile for real and runs the image, on a machine
# without a Docker daemon or Docker Hub (only Debian's mirrors and the npm registry): buildah builds,
# podman runs. Not part of `npm test` or .ci/run: it installs packages and builds two images (minutes).
#
#   1. installs buildah, podman, runc, mmdebstrap, busybox-static, dig, dnsmasq, iproute2 (apt-get);
#   2. checks that a container can run here at all, else says why and stops (exit 0, SKIPPED);
#   3. node:20-bookworm-slim: the local one, else builds the stand-in (test/image/node-standin.sh), or
#      pulls the real one with MESHDNS_PULL_BASE=1 (nothing here contacts Docker Hub otherwise);
#   4. buildah bud --pull=never of ./Dockerfile as $MESHDNS_IMAGE (default localhost/meshdns:test);
#   5. runs it as the cluster would (its own uid, read-only root, no capabilities) in a network namespace
#      made here with only a loopback and a dnsmasq upstream: --help, then `serve` on the examples
#      answering dig over UDP and TCP; checks the uid of the process, the native addons, the image size.
#
# Environment: MESHDNS_IMAGE (tag), MESHDNS_PULL_BASE=1 (pull node:20-bookworm-slim from Docker Hub),
# MESHDNS_REBUILD_BASE=1 (build the stand-in even if a base image exists),
# MESHDNS_IMAGE_BUILT=1 (check the image already built under that tag, without building).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
image="${MESHDNS_IMAGE:-localhost/meshdns:test}"
base=docker.io/library/node:20-bookworm-slim

say() { echo "image test: $*"; }
skip() {
  say "SKIPPED: $*"
  exit 0
}
fail() {
  say "FAILED: $*" >&2
  exit 1
}

# 1. Tools.
[ "$(uname -s)" = Linux ] || skip "needs Linux (this is $(uname -s))"
[ "$(id -u)" -eq 0 ] || skip "needs root: rootful buildah/podman and a network namespace (ip netns)"
need=()
for tool in buildah:buildah podman:podman runc:runc mmdebstrap:mmdebstrap busybox:busybox-static \
  dig:bind9-dnsutils dnsmasq:dnsmasq-base ip:iproute2; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || skip "missing ${need[*]} and no apt-get to install them"
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# runc, named: podman and buildah prefer crun where both are installed, and crun refuses hybrid cgroup
# v1/v2 hosts (as these machines are).
podman=(podman --runtime runc)
export BUILDAH_RUNTIME="${BUILDAH_RUNTIME:-runc}"
# Rootful podman sets the open-files and processes limits of a container high (1048576 and more) unless
# told; where even root may not raise a hard limit (these machines) the container does not start.
limits=(--ulimit nofile=16384:16384 --ulimit nproc=4096:4096)

# 2. Can a container run here? A one-file image (busybox-static), no network.
probe=localhost/meshdns-image-probe
if ! "${podman[@]}" image exists "$probe"; then
  c="$(buildah from scratch)"
  buildah copy --quiet "$c" "$(command -v busybox)" /busybox
  buildah commit --quiet --rm "$c" "$probe" >/dev/null
fi
if ! why="$("${podman[@]}" run --rm --network none "${limits[@]}" "$probe" /busybox true 2>&1)"; then
  skip "podman cannot run a container on this machine: $why"
fi

# The images this run replaces, removed once nothing names them (no other image is touched).
image_id() { "${podman[@]}" image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
drop_if_untagged() {
  if [ -n "$1" ] && [ "$("${podman[@]}" image inspect --format '{{len .RepoTags}}' "$1" 2>/dev/null)" = 0 ]; then
    "${podman[@]}" image rm "$1" >/dev/null 2>&1 || true
  fi
}
old_image="$(image_id "$image")"
old_base="$(image_id "$base")"

# 3. The base image.
if [ "${MESHDNS_PULL_BASE:-}" = 1 ]; then
  "${podman[@]}" pull "$base" >/dev/null
elif [ "${MESHDNS_REBUILD_BASE:-}" = 1 ] || ! "${podman[@]}" image exists "$base"; then
  say "building the stand-in for $base (none here; MESHDNS_PULL_BASE=1 pulls the real one)"
  bash test/image/node-standin.sh "$base"
fi
standin="$("${podman[@]}" image inspect --format '{{index .Labels "meshdns.standin"}}' "$base")"
say "base $base: $([ "$standin" = true ] && echo "the local stand-in (test/image/node-standin.sh)" || echo "a pulled image")"

# 4. The build. The RUN steps reach Debian's mirrors (apt-get) and the npm registry (npm ci).
# Where this machine's Node trusts an extra CA (a TLS-intercepting proxy in front of the registry), the
# build's npm trusts it too: the Dockerfile's secret npm-ca, mounted for its `npm ci` steps only. No
# layer cache (--layers=false): a cached layer of an `npm ci` that failed quietly would be used again.
build=(--pull=never --layers=false --force-rm)
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  build+=(--secret "id=npm-ca,src=$NODE_EXTRA_CA_CERTS")
fi
if [ "${MESHDNS_IMAGE_BUILT:-}" = 1 ]; then
  "${podman[@]}" image exists "$image" || fail "MESHDNS_IMAGE_BUILT=1 but there is no $image"
  say "checking $image as built before (MESHDNS_IMAGE_BUILT=1)"
else
  say "building $image from ./Dockerfile: buildah bud ${build[*]} -t $image ."
  buildah bud --quiet "${build[@]}" -t "$image" -f Dockerfile . >/dev/null
  drop_if_untagged "$old_image"
  drop_if_untagged "$old_base"
fi

# 5. Running it.
name="meshdns-image-test-$$"
netns="meshdns-image-$$"
dnsmasq_pid=""
cleanup() {
  "${podman[@]}" rm --force --ignore --time 2 "$name" "$name-dgram" >/dev/null 2>&1 || true
  [ -z "$dnsmasq_pid" ] || kill "$dnsmasq_pid" 2>/dev/null || true
  ip netns delete "$netns" 2>/dev/null || true
}
trap cleanup EXIT

run() { "${podman[@]}" run --rm --network none "${limits[@]}" "$image" "$@"; }
help="$(run --help)"
[[ "$help" == "Usage: meshdns [options] [command]"* ]] || fail "meshdns --help printed no usage: $help"
say "ok: meshdns --help"
[ "$(run capture --help | head -1)" = "Usage: meshdns capture [options]" ] || fail "meshdns capture --help"
say "ok: meshdns capture --help"

# A namespace with only a loopback: the upstream (dnsmasq) on 127.0.0.53, meshdns on 127.0.0.1.
ip netns add "$netns"
ip -n "$netns" link set lo up
ip netns exec "$netns" dnsmasq -k -C /dev/null --no-resolv --no-hosts --bind-interfaces \
  --listen-address=127.0.0.53 -p 53 --address=/upstream.test/192.0.2.99 --pid-file= &
dnsmasq_pid=$!

# As the controller and agent pods run it: the image's user, read-only root, no capabilities, /tmp writable.
"${podman[@]}" run --detach --name "$name" --network "ns:/run/netns/$netns" "${limits[@]}" \
  --read-only --tmpfs /tmp --cap-drop all --security-opt no-new-privileges \
  --volume "$repo/examples:/manifests:ro" "$image" \
  serve --manifests /manifests --state-file /tmp/meshdns/state.json \
  --dns-listen 127.0.0.1:15053 --upstream 127.0.0.53:53 --admin-listen 127.0.0.1:15020 >/dev/null

ask() { ip netns exec "$netns" dig +short +time=1 +tries=1 @127.0.0.1 -p 15053 "$@"; }
for _ in $(seq 1 60); do
  [ "$(ask db-a.example.com 2>/dev/null)" = 240.240.0.1 ] && break
  if [ "$("${podman[@]}" inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
    "${podman[@]}" logs "$name" >&2 || true
    fail "meshdns serve stopped"
  fi
  sleep 0.5
done

# name, type, answer: the table (auto-allocated VIPs, a Service, a wildcard entry) and the upstream.
checks=(
  "db-a.example.com A 240.240.0.1"
  "db-b.example.com A 240.240.0.2"
  "db-a.example.com AAAA 2001:2::1"
  "productpage.default.svc.cluster.local A 10.96.0.10"
  "en.wiki.example.org A 192.0.2.30"
  "upstream.test A 192.0.2.99"
)
for transport in +notcp +tcp; do
  for check in "${checks[@]}"; do
    read -r qname qtype want <<<"$check"
    got="$(ask "$transport" "$qname" "$qtype" | tr '\n' ' ' | sed 's/ $//')"
    [ "$got" = "$want" ] || { "${podman[@]}" logs "$name" >&2; fail "dig $transport $qname $qtype: '$got', want '$want'"; }
    say "ok: dig $transport @127.0.0.1 -p 15053 $qname $qtype -> $got"
  done
done
ip netns exec "$netns" dig @127.0.0.1 -p 15053 db-a.example.com | grep -q 'flags: qr aa' \
  || fail "db-a.example.com answered without the aa flag"

# The process: uid and gid 1000 (the image's USER), no capabilities.
pid="$("${podman[@]}" inspect -f '{{.State.Pid}}' "$name")"
uids="$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")"
gids="$(awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")"
caps="$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status")"
if [ "$uids" != "1000 1000 1000 1000" ] || [ "$gids" != "1000 1000 1000 1000" ]; then
  fail "meshdns runs as uid $uids gid $gids, want 1000"
fi
[ "$caps" = 0000000000000000 ] || fail "meshdns has capabilities $caps"
say "ok: pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-60)) runs as uid/gid 1000, no capabilities"

# The native addons (the image builds them: a compiler in the build stage): the UDP path serve reports,
# and both addons loaded as the bundle that bin/meshdns runs finds them, beside it in dist/bundle/.
udp="$("${podman[@]}" exec "$name" node -e \
  "fetch('http://127.0.0.1:15020/debug/config').then((r) => r.json()).then((c) => console.log(JSON.stringify(c.udpIo)))")"
[[ "$udp" == *'"io":"native"'* ]] || fail "serve answers UDP without the native addon: $udp"
say "ok: UDP path (/debug/config udpIo): $udp"
addons="$("${podman[@]}" exec "$name" node -e \
  "for (const f of ['netio.node', 'relay.node']) { const m = { exports: {} }; process.dlopen(m, '/app/dist/bundle/' + f); console.log(f, Object.keys(m.exports).length, 'exports'); }" 2>&1 | tr '\n' ' ')" \
  || fail "an addon in /app/dist/bundle does not load: $addons"
say "ok: addons load: $addons"

# Stops on SIGTERM, cleanly.
"${podman[@]}" stop --time 10 "$name" >/dev/null
code="$("${podman[@]}" inspect -f '{{.State.ExitCode}}' "$name")"
[ "$code" = 0 ] || { "${podman[@]}" logs "$name" >&2; fail "serve exited $code on SIGTERM"; }
say "ok: SIGTERM: exit 0"

# Without the addon (as where it could not be built): serve says why and answers on node:dgram.
"${podman[@]}" run --detach --name "$name-dgram" --network "ns:/run/netns/$netns" "${limits[@]}" \
  --read-only --tmpfs /tmp --cap-drop all --env MESHDNS_NETIO_ADDON=/nonexistent/netio.node \
  --volume "$repo/examples:/manifests:ro" "$image" \
  serve --manifests /manifests --state-file /tmp/meshdns/state.json \
  --dns-listen 127.0.0.1:15054 --upstream 127.0.0.53:53 --admin-listen 127.0.0.1:15021 >/dev/null
answered=""
for _ in $(seq 1 60); do
  answered="$(ip netns exec "$netns" dig +short +time=1 +tries=1 @127.0.0.1 -p 15054 db-a.example.com 2>/dev/null || true)"
  [ "$answered" = 240.240.0.1 ] && break
  sleep 0.5
done
said="$("${podman[@]}" logs "$name-dgram" 2>&1 | grep 'UDP answered on node:dgram' || true)"
"${podman[@]}" rm --force --time 2 "$name-dgram" >/dev/null
[ -n "$said" ] || fail "serve without the addon did not say it fell back to node:dgram"
[ "$answered" = 240.240.0.1 ] || fail "serve without the addon: db-a.example.com '$answered', want 240.240.0.1"
say "ok: without the addon: $(echo "$said" | grep -o '"reason":"[^"]*"' | head -1), answered on node:dgram"

size="$("${podman[@]}" image inspect --format '{{.Size}}' "$image")"
base_size="$("${podman[@]}" image inspect --format '{{.Size}}' "$base")"
say "image $image: $((size / 1000000)) MB ($((base_size / 1000000)) MB of it the base $base)"
echo "image test: passed"
