#!/usr/bin/env bash
# The end-to-end suite installs the system packages it needs (Debian): dnsmasq-base (the real
# upstream), bind9-dnsutils (dig), iproute2 and iptables (namespaces, capture), kubernetes-client
# (kubectl, against the Kubernetes API test server), openssl (certificates for the xDS TLS test),
# dnsperf (load through a restart).
set -euo pipefail
need=()
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
command -v dig >/dev/null 2>&1 || need+=(bind9-dnsutils)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need+=(iptables)
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v dnsperf >/dev/null 2>&1 || need+=(dnsperf)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "e2e: missing ${need[*]} and not root: install them (apt-get install -y ${need[*]}); tests that need them will skip" >&2
  exit 0
fi
echo "e2e: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
