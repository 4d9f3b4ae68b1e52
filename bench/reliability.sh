#!/usr/bin/env bash
# Reliability figures: runs test/Reliability.Tests with the full counts against the csshim binary
# (CSSHIM_BIN, else artifacts/csshim/csshim, published here if missing) and adds up the FIGURE lines the tests
# write: hostile cases tried/refused, fault points injected/recovered, concurrent cycles, leaked mounts.
# Extra arguments go to `dotnet test` (e.g. --filter FullyQualifiedName~FaultTests). Run as root.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "reliability.sh: run as root: the tests mount filesystems and start containers" >&2
    exit 1
fi
if [ -z "${CSSHIM_BIN:-}" ]; then
    export CSSHIM_BIN="$PWD/artifacts/csshim/csshim"
    [ -x "$CSSHIM_BIN" ] || dotnet publish src/ShimRuntime -c Release -o artifacts/csshim --nologo -v quiet || exit 1
fi
export CSSHIM_LOAD_CYCLES="${CSSHIM_LOAD_CYCLES:-20}"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
dotnet test test/Reliability.Tests -c Release --nologo --logger "console;verbosity=detailed" "$@" >"$log" 2>&1
status=$?
seconds=$(( $(date +%s) - start ))

# The detailed logger prints a test's output twice (live, then under "Standard Output Messages", indented).
figures=$(grep -E '^ ?FIGURE ' "$log" | sed 's/^ //' | sort -u)
count() { grep -E "^FIGURE $1 " <<<"$figures" | grep -cE "${2:-.}" || true; }
sum_field() { grep -E "^FIGURE $1 " <<<"$figures" | grep -oE " $2=[0-9]+" | cut -d= -f2 | awk '{s+=$1} END {print s+0}'; }

echo "== csshim reliability ($CSSHIM_BIN, CSSHIM_LOAD_CYCLES=$CSSHIM_LOAD_CYCLES, ${seconds}s) =="
echo "tests:              $(grep -E '^\s*(Total tests|Passed|Failed|Skipped): [0-9]+' "$log" | sed -E 's/^ *//' | paste -sd' ' -)"
echo "hostile cases:      tried=$(count hostile-case) refused=$(count hostile-case 'refused=yes')" \
     "($(grep -E '^FIGURE hostile-case ' <<<"$figures" | grep -oE 'kind=[a-z]+' | sort | uniq -c | awk '{sub("kind=", "", $2); printf "%s%s=%d", sep, $2, $1; sep=" "}'))"
echo "fault points:       recovered-clean=$(count fault 'recovered=yes') of $(grep -cE '^\s*(Passed|Failed) Crash_' "$log") injected" \
     "(points: $(grep -E '^FIGURE fault ' <<<"$figures" | grep -oE 'point=[a-z-]+' | sort -u | cut -d= -f2 | paste -sd, -))"
echo "rollbacks:          clean=$(count rollback 'clean=yes') of $(grep -cE '^\s*(Passed|Failed) (Full_upper|Runtime_failing|Runsc_failing|Bogus_runtime)' "$log")"
echo "concurrent cycles:  run=$(sum_field load cycles) ok=$(sum_field load ok)" \
     "$(grep -E '^FIGURE load ' <<<"$figures" | grep -oE 'seconds=[0-9.]+' | head -1)"
echo "concurrent tars:    $(grep -E '^FIGURE concurrent-snapshots ' <<<"$figures" | sed -E 's/^FIGURE concurrent-snapshots //' | paste -sd';' -)"
echo "leaked mounts:      $(sum_field leaked-mounts n) (must be 0)" \
     "$(grep -E '^FIGURE leaked-mounts ' <<<"$figures" | grep -vE ' n=0$' | sed -E 's/^FIGURE leaked-mounts test=//' | paste -sd' ' -)"
if [ $status -ne 0 ]; then
    echo "-- failed tests --"
    grep -E '^\s*Failed [A-Za-z_]' "$log" | sed 's/^ *//'
fi
exit $status
