#!/usr/bin/env bash
# Client side of the E2E suite: Debian packages the suite drives (containerd + ctr, podman, runc, runsc,
# busybox-static) and Docker 26.1.5 from trixie (docker.io + docker-cli) extracted with `dpkg -x` into
# .tools/docker26. The machine's apt sources are never touched: Docker's .debs come through a private
# sources.list, lists and cache under a temp dir, from the mirror the machine's apt already uses.
# Idempotent: apt only when something is missing, the download only when .tools/docker26 is not there yet.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="$root/.tools/docker26"
if [ "$(id -u)" != 0 ]; then
    echo "fetch-clients: run as root (apt-get)" >&2
    exit 1
fi

packages=(containerd podman runc runsc busybox-static)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "fetch-clients: installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ -x "$dest/usr/sbin/dockerd" ] && [ -x "$dest/usr/bin/docker" ]; then
    exit 0
fi

mirror=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list)
fi
if [ -z "$mirror" ]; then
    echo "fetch-clients: no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list" >&2
    exit 1
fi

work=$(mktemp -d /tmp/fetch-clients.XXXXXX)
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/download"
printf 'deb %s trixie main\n' "$mirror" >"$work/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
apt-get "${apt_opts[@]}" -q update >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; exit 1; }
# apt-get download writes into the current directory as _apt; a root-only temp dir would refuse it
chmod 0777 "$work/download"
(cd "$work/download" && apt-get "${apt_opts[@]}" -q download docker.io docker-cli)

# Extract beside the destination and rename, so a half-extracted tree never looks installed.
mkdir -p "$root/.tools"
staging=$(mktemp -d "$root/.tools/docker26.partial.XXXXXX")
for deb in "$work"/download/*.deb; do
    dpkg -x "$deb" "$staging"
done
"$staging/usr/sbin/dockerd" --version >/dev/null
"$staging/usr/bin/docker" --version >/dev/null
rm -rf "$dest"
mv "$staging" "$dest"
"$dest/usr/sbin/dockerd" --version
