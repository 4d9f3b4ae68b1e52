#!/usr/bin/env bash
# Fetches Debian's 2024 runsc (bookworm-backports) into .tools/runsc-2024 for the integration tests, without
# touching the machine's apt sources: a private sources.list, lists and cache under a temp dir, the same mirror
# the machine's apt already uses. Idempotent: does nothing when the binary is already there.
set -euo pipefail
version="0.0~20240729.0-4~bpo12+2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="$root/.tools/runsc-2024"
if [ -x "$dest/usr/bin/runsc" ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "fetch-runsc-2024: run as root (apt-get update with a private state dir)" >&2
    exit 1
fi

mirror=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list)
fi
if [ -z "$mirror" ]; then
    echo "fetch-runsc-2024: no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list" >&2
    exit 1
fi

work=$(mktemp -d /tmp/fetch-runsc-2024.XXXXXX)
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/download"
printf 'deb %s bookworm-backports main\n' "$mirror" >"$work/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
apt-get "${apt_opts[@]}" -q update >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; exit 1; }
# apt-get download writes into the current directory; _apt may not be able to write to a root-only temp dir
chmod 0777 "$work/download"
(cd "$work/download" && apt-get "${apt_opts[@]}" -q download "runsc=$version")
deb=$(ls "$work"/download/runsc_*.deb)

# Extract next to the destination and rename, so a half-extracted tree never looks installed.
mkdir -p "$root/.tools"
staging=$(mktemp -d "$root/.tools/runsc-2024.partial.XXXXXX")
dpkg -x "$deb" "$staging"
"$staging/usr/bin/runsc" --version >/dev/null
rm -rf "$dest"
mv "$staging" "$dest"
"$dest/usr/bin/runsc" --version | head -1
