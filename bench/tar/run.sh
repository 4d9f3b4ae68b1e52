#!/bin/bash
# Snapshot (UpperArchive.Write) and restore (UpperArchive.Extract, ApplyInPlace) against GNU tar on a ~1 GiB tree in tmpfs.
# usage: bench/tar/run.sh [runs]   (as root; prints MB/s and peak RSS, best of N runs)
set -euo pipefail
RUNS=${1:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/tarbench.XXXXXX)
PUB=$W/pub
cleanup() { umount "$W/fs/merged" 2>/dev/null || true; umount "$W/fs" 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

dotnet publish "$HERE/TarBench" -c Release -o "$PUB" >"$W/publish.log" 2>&1 || { cat "$W/publish.log"; exit 1; }
BIN=$PUB/TarBench

mkdir -p "$W/fs"
mount -t tmpfs -o size=8g tarbench "$W/fs"
T=$W/fs/tree
mkdir -p "$T"
# A few large files (4 x 200 MiB), 20,000 small files (1-16 KiB) in 200 dirs, symlinks, hard links, xattrs:
# the "dev" tree of bench/lib/tree.py, which bench/run.sh measures through csshim too.
python3 "$HERE/../lib/tree.py" dev "$T" >/dev/null
SIZE=$(du -sb "$T" | cut -f1)
echo "tree: $(find "$T" | wc -l) nodes, $((SIZE >> 20)) MiB"

# once CMD...: run it after $PREP, set WALL (s) and RSS (KiB).
once() {
  eval "$PREP"
  /usr/bin/time -v -o "$W/time.txt" "$@" >/dev/null 2>"$W/err.txt" || { cat "$W/err.txt"; exit 1; }
  WALL=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$W/time.txt")
  RSS=$(awk -F': ' '/Maximum resident set size/{print $2}' "$W/time.txt")
}
report() { printf '%-28s %7.3f s  %8.1f MB/s  peak RSS %6.1f MiB\n' "$1" "$2" "$(awk "BEGIN{print $SIZE/1e6/$2}")" "$(awk "BEGIN{print $3/1024}")"; }
# pair LABEL1 LABEL2 -- CMD1 -- CMD2: the two alternate run by run (tmpfs timing drifts), best of $RUNS each.
declare -A BEST PEAK
pair() {
  local l1=$1 l2=$2; shift 3
  local c1=() c2=(); while [ "$1" != "--" ]; do c1+=("$1"); shift; done; shift; c2=("$@")
  BEST[$l1]=""; BEST[$l2]=""
  for r in $(seq 1 "$RUNS"); do
    for l in "$l1" "$l2"; do
      if [ "$l" = "$l1" ]; then once "${c1[@]}"; else once "${c2[@]}"; fi
      if [ -z "${BEST[$l]}" ] || awk "BEGIN{exit !($WALL < ${BEST[$l]})}"; then BEST[$l]=$WALL; PEAK[$l]=$RSS; fi
    done
  done
  report "$l1" "${BEST[$l1]}" "${PEAK[$l1]}"; report "$l2" "${BEST[$l2]}" "${PEAK[$l2]}"
}
single() { local l=$1; shift; BEST[$l]=""; for r in $(seq 1 "$RUNS"); do once "$@"; if [ -z "${BEST[$l]}" ] || awk "BEGIN{exit !($WALL < ${BEST[$l]})}"; then BEST[$l]=$WALL; PEAK[$l]=$RSS; fi; done; report "$l" "${BEST[$l]}" "${PEAK[$l]}"; }

A=$W/fs/ours.tar; G=$W/fs/gnu.tar; D=$W/fs/dst
PREP="rm -f $A $G"
pair "snapshot csshim (Write)" "snapshot tar --xattrs -cf" -- "$BIN" write "$T" "$A" -- tar --xattrs --xattrs-include='*' -cf "$G" -C "$T" .
"$BIN" write "$T" "$A" >/dev/null; tar --xattrs --xattrs-include='*' -cf "$G" -C "$T" .
PREP="rm -rf $D; mkdir $D"
pair "restore csshim (Extract)" "restore tar --xattrs -xf" -- "$BIN" extract "$A" "$D" -- tar --xattrs --xattrs-include='*' -xpf "$G" -C "$D"
# Cross-check: our restore of our archive equals GNU tar's restore of its archive.
rm -rf "$D" "$D.g"; mkdir "$D" "$D.g"
"$BIN" extract "$A" "$D" >/dev/null 2>&1; tar --xattrs --xattrs-include='*' -xpf "$G" -C "$D.g"
diff -r --no-dereference "$D" "$D.g" >/dev/null && echo "restored trees identical (diff -r)"
echo "archive sizes: ours $(stat -c %s "$A"), gnu $(stat -c %s "$G")"
PREP="rm -f $A.gz"; single "snapshot csshim gzip" "$BIN" write "$T" "$A.gz" gzip
PREP="rm -f $A.zst"; single "snapshot csshim zstd" "$BIN" write "$T" "$A.zst" zstd
PREP="rm -rf $D; mkdir $D"; single "restore csshim zstd" "$BIN" extract "$A.zst" "$D"
# In place, as over an engine's rootfs: through an overlay of an image (here the tree itself) with a fresh upper.
O=$W/fs
PREP="umount $O/merged 2>/dev/null || true; rm -rf $O/upper $O/work; mkdir -p $O/upper $O/work $O/merged; mount -t overlay overlay -o lowerdir=$T,upperdir=$O/upper,workdir=$O/work $O/merged"
single "restore csshim in place" "$BIN" apply "$A" "$O/merged"
awk "BEGIN{printf \"speed ours/gnu: snapshot %.2fx, restore %.2fx\n\", ${BEST[snapshot tar --xattrs -cf]}/${BEST[snapshot csshim (Write)]}, ${BEST[restore tar --xattrs -xf]}/${BEST[restore csshim (Extract)]}}"
