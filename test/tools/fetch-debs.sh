#!/usr/bin/env bash
# fetch-debs.sh SUITE DEST PACKAGE...: download Debian packages of another suite (trixie, bookworm-backports) and
# extract them with `dpkg -x` into DEST, without touching the machine's apt sources: a private sources.list,
# lists and cache under a temp dir, from the mirror the machine's apt already uses. DEST appears only complete
# (extracted beside it, then renamed).
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: fetch-debs.sh SUITE DEST PACKAGE..." >&2; exit 2; }
suite=$1 dest=$2
shift 2
if [ "$(id -u)" != 0 ]; then
    echo "fetch-debs: run as root (apt-get update with a private state dir)" >&2
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
    echo "fetch-debs: no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list" >&2
    exit 1
fi

work=$(mktemp -d /tmp/fetch-debs.XXXXXX)
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/download"
printf 'deb %s %s main\n' "$mirror" "$suite" >"$work/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
apt-get "${apt_opts[@]}" -q update >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; exit 1; }
# apt-get download writes into the current directory as _apt; a root-only temp dir would refuse it
chmod 0777 "$work/download"
(cd "$work/download" && apt-get "${apt_opts[@]}" -q download "$@")

mkdir -p "$(dirname "$dest")"
staging=$(mktemp -d "$dest.partial.XXXXXX")
for deb in "$work"/download/*.deb; do
    dpkg -x "$deb" "$staging"
done
rm -rf "$dest"
mv "$staging" "$dest"
