#!/usr/bin/env bash
# What csshim adds to `state` (the call containerd-shim and podman make most): for one live busybox container
# per runtime, created through csshim, the median wall time of `csshim --shim-runtime X state ID` vs `X state ID`,
# interleaved run by run so drift on the machine hits both alike. Target: added median <= 2 ms (bench/run.sh has
# the same row among the others).
#   bench/state-overhead.sh [runs]        (default 50 each)
#   CSSHIM_BIN   the csshim binary; default <repo>/artifacts/csshim/csshim (dotnet publish src/ShimRuntime -c Release
#                -o artifacts/csshim)
# Exit status: 0 when every runtime met the target, 1 when one missed it, 2 when the bench itself failed.
set -euo pipefail
runs=${1:-50}
warmup=3
target_ms=2
repo=$(cd "$(dirname "$0")/.." && pwd)
csshim=${CSSHIM_BIN:-$repo/artifacts/csshim/csshim}
[ -x "$csshim" ] || { echo "state-overhead: no csshim binary at $csshim (publish it, or set CSSHIM_BIN)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "state-overhead: run as root (csshim mounts the container's rootfs)" >&2; exit 2; }
[ -x /bin/busybox ] || { echo "state-overhead: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 2; }

# name|binary|global flags (Debian's runsc needs --network=none on this kernel)
runtimes=("runsc-2022|/usr/bin/runsc|--network=none" "runc|/usr/sbin/runc|")

work=$(mktemp -d /tmp/csshim-bench-state.XXXXXX)
created=()   # "binary|globals|root|id"
cleanup() {
    set +e
    for c in "${created[@]}"; do
        IFS='|' read -r bin globals root id <<<"$c"
        # shellcheck disable=SC2086
        "$csshim" --shim-runtime "$bin" --shim-state-dir "$work/state" $globals --root "$root" delete --force "$id" >/dev/null 2>&1
        # shellcheck disable=SC2086
        "$bin" $globals --root "$root" delete --force "$id" >/dev/null 2>&1
    done
    if grep -q " $work/" /proc/self/mountinfo; then
        echo "state-overhead: mounts left under $work after delete (csshim bug):" >&2
        grep " $work/" /proc/self/mountinfo | awk '{print "  " $5}' >&2
        grep " $work/" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l
    fi
    rm -rf "$work"
}
trap cleanup EXIT

bundle=$work/bundle
mkdir -p "$bundle"/rootfs/{bin,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$bundle/rootfs/bin/"
for c in sh sleep; do ln -s busybox "$bundle/rootfs/bin/$c"; done
(cd "$bundle" && runc spec)
python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["args"] = ["sleep", "600"]
c["process"]["terminal"] = False
c["root"]["readonly"] = False
json.dump(c, open(path, "w"), indent=2)
PY

now_ns() { date +%s%N; }
median_ms() { sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.2f", m / 1e6}'; }

printf '%-12s %12s %12s %10s %10s  %s\n' runtime "direct(ms)" "csshim(ms)" "added(ms)" "paired(ms)" "(medians of $runs interleaved runs each)"
status=0
for spec in "${runtimes[@]}"; do
    IFS='|' read -r name bin globals <<<"$spec"
    [ -x "$bin" ] || { echo "$name: $bin missing, skipped"; continue; }
    root=$work/root-$name
    id=bench-$name
    # One bundle per runtime: csshim rewrites config.json's root.path while its container lives.
    rm -rf "$work/bundle-$name"; cp -a "$bundle" "$work/bundle-$name"
    # shellcheck disable=SC2206
    shim=("$csshim" --shim-runtime "$bin" --shim-state-dir "$work/state" $globals --root "$root")
    # shellcheck disable=SC2206
    direct=("$bin" $globals --root "$root")
    created+=("$bin|$globals|$root|$id")
    "${shim[@]}" create --bundle "$work/bundle-$name" "$id" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 2; }
    "${shim[@]}" start "$id" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 2; }
    # Both must answer, and the same container, before timing means anything.
    "${shim[@]}" state "$id" >"$work/s1" 2>&1 || { echo "$name: csshim state failed:" >&2; cat "$work/s1" >&2; exit 2; }
    "${direct[@]}" state "$id" >"$work/s2" 2>&1 || { echo "$name: $bin state failed:" >&2; cat "$work/s2" >&2; exit 2; }
    grep -q '"status": *"running"' "$work/s2" || { echo "$name: container not running:" >&2; cat "$work/s2" >&2; exit 2; }

    : >"$work/t-direct"; : >"$work/t-shim"
    # Alternate which goes first as well: the second of a pair runs while the first's threads are still exiting.
    for ((i = 0; i < warmup + runs; i++)); do
        if ((i % 2 == 0)); then
            t0=$(now_ns); "${direct[@]}" state "$id" >/dev/null 2>&1; t1=$(now_ns)
            "${shim[@]}" state "$id" >/dev/null 2>&1; t2=$(now_ns)
            td=$((t1 - t0)); ts=$((t2 - t1))
        else
            t0=$(now_ns); "${shim[@]}" state "$id" >/dev/null 2>&1; t1=$(now_ns)
            "${direct[@]}" state "$id" >/dev/null 2>&1; t2=$(now_ns)
            ts=$((t1 - t0)); td=$((t2 - t1))
        fi
        if ((i >= warmup)); then
            echo "$td" >>"$work/t-direct"
            echo "$ts" >>"$work/t-shim"
        fi
    done
    d=$(median_ms <"$work/t-direct")
    s=$(median_ms <"$work/t-shim")
    added=$(awk -v s="$s" -v d="$d" 'BEGIN {printf "%.2f", s - d}')
    # Median of the per-pair differences: less sensitive to the load drifting between pairs.
    paired=$(paste "$work/t-shim" "$work/t-direct" | awk '{print $1 - $2}' | median_ms)
    verdict=$(awk -v a="$added" -v t="$target_ms" 'BEGIN {print (a <= t) ? "ok" : "OVER TARGET"}')
    [ "$verdict" = ok ] || status=1
    printf '%-12s %12s %12s %10s %10s  %s (target <= %s ms)\n' "$name" "$d" "$s" "$added" "$paired" "$verdict" "$target_ms"
done
# csshim's own floor: the same routing and execve with a runtime that does nothing (/bin/true), so runtime noise
# (runsc's Go start-up varies by several ms on a busy machine) cannot hide or fake csshim's share.
: >"$work/t-direct"; : >"$work/t-shim"
for ((i = 0; i < warmup + runs; i++)); do
    t0=$(now_ns); /bin/true state x >/dev/null 2>&1; t1=$(now_ns)
    "$csshim" --shim-runtime /bin/true --shim-state-dir "$work/state" state x >/dev/null 2>&1; t2=$(now_ns)
    if ((i >= warmup)); then echo $((t1 - t0)) >>"$work/t-direct"; echo $((t2 - t1)) >>"$work/t-shim"; fi
done
d=$(median_ms <"$work/t-direct"); s=$(median_ms <"$work/t-shim")
printf '%-12s %12s %12s %10s %10s  %s\n' "floor" "$d" "$s" "$(awk -v s="$s" -v d="$d" 'BEGIN {printf "%.2f", s - d}')" \
    "$(paste "$work/t-shim" "$work/t-direct" | awk '{print $1 - $2}' | median_ms)" \
    "(/bin/true as the runtime: csshim start-up + execve)"
exit $status
