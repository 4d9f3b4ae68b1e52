#!/usr/bin/env bash
# Client side of the E2E suite: the Debian packages it drives (containerd + ctr, podman, runc, runsc,
# busybox-static, from install-test-deps.sh) and Docker 26.1.5 from trixie (docker.io + docker-cli) extracted
# into .tools/docker26 (Docker 20.10 from bookworm cannot pass --annotation). Idempotent.
set -euo pipefail
here="$(dirname "$0")"
root="$(cd "$here/../.." && pwd)"
dest="$root/.tools/docker26"
"$here/install-test-deps.sh"
[ -x "$dest/usr/sbin/dockerd" ] && [ -x "$dest/usr/bin/docker" ] && exit 0
"$here/fetch-debs.sh" trixie "$dest" docker.io docker-cli
"$dest/usr/sbin/dockerd" --version
