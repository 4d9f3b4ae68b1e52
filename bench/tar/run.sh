#!/bin/bash
# TarLayer against GNU tar, side by side in one run: snapshot (UpperArchive.Write), restore (Extract), in-place restore
# (ApplyInPlace) and the compressed forms, on two trees in tmpfs.
#
# usage: bench/tar/run.sh [runs] [trees]        (as root)
#   runs   runs per command (default 5); the commands of a group alternate run by run, since tmpfs timings drift
#   trees  "big" (~1 GiB: 4 x 200 MiB + 20,000 files of 1-16 KiB, symlinks, hard links, xattrs), "mixed"
#          (4 x 64 MiB + 8,000 files of 1-32 KiB) or "big mixed" (default)
# environment:
#   BASE=DIR      a second published TarBench (e.g. of the previous commit) timed in the same groups as "base"
#   ARCHIVES=DIR  where archives are written and read (default: the tmpfs of the trees); a directory on another
#                 filesystem (ext4: /var/tmp) measures the cross-filesystem data path
#   PLAIN=1       only the uncompressed groups (snapshot, restore, in place)
# Prints per command: median, min-max, peak RSS, and the ratio GNU tar / ours (> 1: ours is faster).
set -euo pipefail
RUNS=${1:-5}
TREES=${2:-big mixed}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/tarbench.XXXXXX)
PUB=$W/pub
cleanup() {
  umount "$W/fs/merged" 2>/dev/null || true
  umount "$W/fs" 2>/dev/null || true
  rm -rf "$W" "${AR:-}"
}
trap cleanup EXIT

dotnet publish "$HERE/TarBench" -c Release -o "$PUB" >"$W/publish.log" 2>&1 || { cat "$W/publish.log"; exit 1; }
BIN=$PUB/TarBench
BASE_BIN=${BASE:+$BASE/TarBench}

mkdir -p "$W/fs"
mount -t tmpfs -o size=12g tarbench "$W/fs"
if [ -n "${ARCHIVES:-}" ]; then AR=$(mktemp -d "$ARCHIVES/tarbench-ar.XXXXXX"); else AR=$W/fs/ar; mkdir -p "$AR"; fi
echo "archives in $(stat -f -c %T "$AR"), trees in tmpfs; $RUNS runs; $(nproc) cores"

# The trees of bench/lib/tree.py (fixed seed), the same ones bench/run.sh measures through csshim.
make_tree() { python3 "$HERE/../lib/tree.py" "$2" "$1" >/dev/null; }

RESULTS=$W/results.txt
: >"$RESULTS"
# once LABEL CMD...: run CMD after $PREP, record wall time (s) and peak RSS (KiB).
once() {
  local label=$1; shift
  eval "$PREP"
  /usr/bin/time -f '%e %M' -o "$W/time.txt" "$@" >/dev/null 2>"$W/err.txt" || { echo "$label failed:"; cat "$W/err.txt"; exit 1; }
  echo "$GROUP|$label|$(cat "$W/time.txt")" >>"$RESULTS"
}
# group NAME PREP -- LABEL CMD... -- LABEL CMD... : each run runs every command once, in turn.
group() {
  GROUP=$1; PREP=$2; shift 3
  local cmds=() cur=""
  for a in "$@"; do
    if [ "$a" = "--" ]; then cmds+=("$cur"); cur=""; else cur+="$(printf '%q ' "$a")"; fi
  done
  cmds+=("$cur")
  for _ in $(seq 1 "$RUNS"); do
    for c in "${cmds[@]}"; do eval "set -- $c"; once "$@"; done
  done
}
TAR=(tar --xattrs --xattrs-include='*')

for tree in $TREES; do
  T=$W/fs/$tree
  case $tree in
    big) make_tree "$T" dev ;;
    mixed) make_tree "$T" mixed ;;
    *) echo "unknown tree $tree"; exit 2 ;;
  esac
  SIZE=$(du -sb "$T" | cut -f1)
  echo "tree $tree: $(find "$T" | wc -l) nodes, $((SIZE >> 20)) MiB" | tee -a "$W/trees.txt"
  echo "$tree $SIZE" >>"$W/sizes.txt"
  A=$AR/ours.tar; G=$AR/gnu.tar; D=$W/fs/dst
  group "$tree snapshot" "rm -f $A $G" -- ours "$BIN" write "$T" "$A" \
    ${BASE_BIN:+-- base "$BASE_BIN" write "$T" "$A"} -- "gnu tar" "${TAR[@]}" -cf "$G" -C "$T" .
  "$BIN" write "$T" "$A" >/dev/null; "${TAR[@]}" -cf "$G" -C "$T" .
  group "$tree restore" "rm -rf $D; mkdir $D" -- ours "$BIN" extract "$A" "$D" \
    ${BASE_BIN:+-- base "$BASE_BIN" extract "$A" "$D"} -- "gnu tar" "${TAR[@]}" -xpf "$G" -C "$D"
  rm -rf "$D" "$D.g"; mkdir "$D" "$D.g"
  "$BIN" extract "$A" "$D" >/dev/null 2>&1; "${TAR[@]}" -xpf "$G" -C "$D.g"
  diff -r --no-dereference "$D" "$D.g" >/dev/null && echo "  restored trees identical (diff -r)" || { echo "  restored trees DIFFER"; exit 1; }
  rm -rf "$D.g"
  if [ -z "${PLAIN:-}" ]; then
  # gzip: ours writes level 1 (Fastest), so GNU tar is given gzip -1.
  group "$tree snapshot gzip" "rm -f $A.gz $G.gz" -- ours "$BIN" write "$T" "$A.gz" gzip \
    ${BASE_BIN:+-- base "$BASE_BIN" write "$T" "$A.gz" gzip} -- "gnu tar" "${TAR[@]}" -I 'gzip -1' -cf "$G.gz" -C "$T" .
  "$BIN" write "$T" "$A.gz" gzip >/dev/null
  group "$tree restore gzip" "rm -rf $D; mkdir $D" -- ours "$BIN" extract "$A.gz" "$D" \
    ${BASE_BIN:+-- base "$BASE_BIN" extract "$A.gz" "$D"} -- "gnu tar" "${TAR[@]}" -xzpf "$A.gz" -C "$D"
  group "$tree snapshot zstd" "rm -f $A.zst $G.zst" -- ours "$BIN" write "$T" "$A.zst" zstd \
    ${BASE_BIN:+-- base "$BASE_BIN" write "$T" "$A.zst" zstd} -- "gnu tar" "${TAR[@]}" --zstd -cf "$G.zst" -C "$T" .
  "$BIN" write "$T" "$A.zst" zstd >/dev/null
  group "$tree restore zstd" "rm -rf $D; mkdir $D" -- ours "$BIN" extract "$A.zst" "$D" \
    ${BASE_BIN:+-- base "$BASE_BIN" extract "$A.zst" "$D"} -- "gnu tar" "${TAR[@]}" --zstd -xpf "$A.zst" -C "$D"
  fi
  # In place, as over an engine's rootfs: through an overlay of an image (here the tree itself) with a fresh upper.
  O=$W/fs
  group "$tree restore in place" "umount $O/merged 2>/dev/null || true; rm -rf $O/upper $O/work; mkdir -p $O/upper $O/work $O/merged; mount -t overlay overlay -o lowerdir=$T,upperdir=$O/upper,workdir=$O/work $O/merged" \
    -- ours "$BIN" apply "$A" "$O/merged" ${BASE_BIN:+-- base "$BASE_BIN" apply "$A" "$O/merged"}
  umount "$O/merged" 2>/dev/null || true
  rm -rf "$T" "$D" "$O/upper" "$O/work" "$AR"/*
done

python3 - "$RESULTS" "$W/sizes.txt" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    group, label, rest = line.rstrip("\n").split("|")
    wall, rss = rest.split()
    rows.setdefault(group, {}).setdefault(label, []).append((float(wall), int(rss)))
sizes = dict(l.split() for l in open(sys.argv[2]))
print(f"\n{'group':<24} {'command':<8} {'median':>8} {'min-max':>15} {'MB/s':>7} {'peak RSS':>9} {'gnu/this':>9} {'(range)':>13}")
for group, labels in rows.items():
    size = int(sizes[group.split()[0]])
    gnu = labels.get("gnu tar")
    for label, runs in labels.items():
        walls = [w for w, _ in runs]
        med = statistics.median(walls)
        rss = max(r for _, r in runs) / 1024
        ratio = rng = ""
        if gnu and label != "gnu tar":
            gw = [w for w, _ in gnu]
            ratio = f"{statistics.median(gw) / med:.2f}x"
            rng = f"{min(gw) / max(walls):.2f}-{max(gw) / min(walls):.2f}"
        print(f"{group:<24} {label:<8} {med:7.3f}s {min(walls):6.3f}-{max(walls):6.3f}s {size / 1e6 / med:7.0f} {rss:7.1f}Mi {ratio:>9} {rng:>13}")
PY
