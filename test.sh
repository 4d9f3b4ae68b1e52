#!/usr/bin/env bash
# The whole test suite, as root: installs what the tests need, publishes csshim with NativeAOT (the binary the
# integration and E2E tests drive), then runs every test project. Extra arguments go to `dotnet test`
# (e.g. --filter "TestCategory!=E2E").
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" != 0 ]; then
    echo "test.sh: run as root: the tests mount filesystems and start containers" >&2
    exit 1
fi
command -v dotnet >/dev/null || { echo "test.sh: the .NET SDK (dotnet) is required" >&2; exit 1; }

test/tools/install-test-deps.sh
test/tools/fetch-runsc-2024.sh || echo "test.sh: runsc 2024 not available; its tests will be skipped" >&2
test/tools/fetch-clients.sh || echo "test.sh: Docker 26 not available; its E2E tests will be skipped" >&2

dotnet publish src/ShimRuntime -c Release -o artifacts/csshim --nologo -v quiet
export CSSHIM_BIN="$PWD/artifacts/csshim/csshim"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# One project at a time: the integration and E2E suites share the machine's mounts, runtimes and cores.
for project in test/OciSpec.Tests test/TarLayer.Tests test/ShimRuntime.Tests test/Snapshot.Tests test/Reliability.Tests test/E2E.Tests test/Cri.Tests; do
    dotnet test "$project" -c Release --nologo "$@" 2>&1 | tee -a "$log" || status=1
done
# The suites above restore through the layer cache (csshim's default); the ones that restore archives run again with
# the copying restore (`--shim-restore copy`), which operators may choose.
for project in test/Snapshot.Tests test/Reliability.Tests; do
    CSSHIM_TEST_RESTORE=copy dotnet test "$project" -c Release --nologo "$@" 2>&1 | tee -a "$log" || status=1
done

# One closing line for the whole run.
awk '/Failed:.*Passed:.*Skipped:/ {
        for (i = 1; i <= NF; i++) { gsub(",", "", $(i+1)); if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) }
     } END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit $status
