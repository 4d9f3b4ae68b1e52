#!/usr/bin/env bash
# Debian's 2024 runsc (bookworm-backports) in .tools/runsc-2024, for the integration tests. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="$root/.tools/runsc-2024"
[ -x "$dest/usr/bin/runsc" ] && exit 0
"$(dirname "$0")/fetch-debs.sh" bookworm-backports "$dest" "runsc=0.0~20240729.0-4~bpo12+2"
# Not piped into head: under pipefail runsc's SIGPIPE would read as a failed fetch.
version=$("$dest/usr/bin/runsc" --version)
echo "${version%%$'\n'*}"
