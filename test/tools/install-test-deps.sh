#!/usr/bin/env bash
# Debian packages the tests use: the runtimes csshim wraps, the clients, busybox for test rootfs, what NativeAOT
# links with (gcc, zlib1g-dev), the xattr/ACL and archive tools the interop tests compare against, and the CNI
# loopback plugin containerd's CRI plugin runs for every pod (containernetworking-plugins).
# Idempotent; apt only when something is missing.
set -euo pipefail
packages=(runsc runc crun podman containerd busybox-static attr acl tar gzip zstd xz-utils bzip2 python3 iproute2 gcc zlib1g-dev util-linux containernetworking-plugins)
missing=()
for p in "${packages[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == *"install ok installed"* ]] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-test-deps: installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
