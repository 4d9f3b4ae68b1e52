#!/usr/bin/env bash
# csshim against what it replaces, one table, side by side in one run (medians of interleaved rounds, min-max,
# ratio, target, pass/miss, peak RSS): restore (copying, and the layer cache's first build) and snapshot vs GNU tar
# on bench/tar's 1 GiB tree and on a mixed tree; `csshim run` with a 100 MiB snapshot (later starts through the
# layer cache, first start, copy restore) and plain vs a native run on runc and runsc (also with the bundle's rootfs
# an overlay mount, the in-place staging case), later starts from the 1 GiB snapshot, the same through Docker;
# RAM of 4 live containers from one snapshot; disk an in-place create adds; create/start/delete; forwarded
# `state`; peak RSS. What each row measures and why: the header of bench/lib/bench.py.
#
#   bench/run.sh [--quick] [--no-1g] [--no-docker] [--extra-mounts N] [--runtime NAME=PATH]... [--tmpdir DIR]
#     --quick          a fast check (few rounds, ~4 min); the default takes longer and gives stable medians
#     --no-1g          leave out the 1 GiB tree (its rows then show nothing)
#     --no-docker      leave out the Docker rows (also left out when test/tools/fetch-clients.sh has not fetched
#                      Docker 26 into .tools/docker26)
#     --extra-mounts   N more mounts (in a private mount namespace), as on a busy Docker/Kubernetes host: every
#                      process that reads /proc/self/mountinfo pays for them, .NET's start-up included
#     --runtime        runtimes to measure, default runc=/usr/sbin/runc runsc=/usr/bin/runsc (runc is required)
#   CSSHIM_BIN    the csshim binary; default <repo>/artifacts/csshim/csshim (published there if missing)
#
# Run as root (csshim mounts). Needs busybox-static, GNU tar, python3, runc (and runsc for its rows); about 5 GiB
# of free RAM for the tmpfs trees and ~15 GiB of disk under --tmpdir for the layer cache's first builds.
# Exit status: 0 every target met, 1 a target missed, 2 the bench failed. Everything it made (containers, mounts,
# the private dockerd, the work dir) is removed on exit, also when interrupted.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
fail() { echo "bench/run.sh: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || fail "run as root (csshim mounts the container's rootfs)"
[ -x /bin/busybox ] || fail "/bin/busybox missing (apt-get install busybox-static)"
command -v python3 >/dev/null || fail "python3 missing"
tar --version 2>/dev/null | grep -q 'GNU tar' || fail "GNU tar missing"
if [ -n "${CSSHIM_BIN:-}" ]; then
    csshim=$CSSHIM_BIN
else
    csshim=$repo/artifacts/csshim/csshim
    if [ ! -x "$csshim" ]; then
        echo "bench/run.sh: publishing csshim to $repo/artifacts/csshim" >&2
        dotnet publish "$repo/src/ShimRuntime" -c Release -o "$repo/artifacts/csshim" --nologo -v quiet >&2 || fail "publish failed"
    fi
fi
[ -x "$csshim" ] || fail "no csshim binary at $csshim (set CSSHIM_BIN)"
exec python3 "$here/lib/bench.py" --csshim "$(cd "$(dirname "$csshim")" && pwd)/$(basename "$csshim")" "$@"
