#!/usr/bin/env bash
# Build csshim with NativeAOT and install it: PREFIX/bin/csshim, a default /etc/csshim/config.json (only if there
# is none), and, unless --no-register, the Docker runtime entry plus the containerd tables (`csshim install`).
# Idempotent: running it again replaces the binary and changes nothing else that is already in place.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: install.sh [--prefix DIR] [--config FILE] [--no-deps] [--no-register] [--demo]
                  [--docker-config FILE | --no-docker] [--containerd-config FILE] [--name NAME]
  --prefix DIR             install DIR/bin/csshim (default /usr/local)
  --config FILE            csshim's config file to create if absent (default /etc/csshim/config.json)
  --no-deps                do not apt-get install missing packages (runc, runsc, busybox-static, gcc, zlib1g-dev)
  --no-register            do not run `csshim install` (Docker daemon.json entry, containerd tables)
  --demo                   run `csshim demo` (snapshot round trip) after installing
  --docker-config FILE     daemon.json to merge into (default /etc/docker/daemon.json; skipped when Docker is absent)
  --no-docker              never touch Docker's daemon.json
  --containerd-config FILE append the csshim runtime tables to this containerd config.toml
  --name NAME              runtime name for Docker/containerd (default csshim)
USAGE
}

prefix=/usr/local
config=/etc/csshim/config.json
deps=1 register=1 demo=0 no_docker=0
docker_config="" containerd_config="" name=""
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "install.sh: $1 needs a value" >&2; usage >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) need_value "$@"; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#*=}; shift ;;
        --config) need_value "$@"; config=$2; shift 2 ;;
        --config=*) config=${1#*=}; shift ;;
        --docker-config) need_value "$@"; docker_config=$2; shift 2 ;;
        --docker-config=*) docker_config=${1#*=}; shift ;;
        --containerd-config) need_value "$@"; containerd_config=$2; shift 2 ;;
        --containerd-config=*) containerd_config=${1#*=}; shift ;;
        --name) need_value "$@"; name=$2; shift 2 ;;
        --name=*) name=${1#*=}; shift ;;
        --no-deps) deps=0; shift ;;
        --no-register) register=0; shift ;;
        --no-docker) no_docker=1; shift ;;
        --demo) demo=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done
[ "$no_docker" = 1 ] && [ -n "$docker_config" ] && { echo "install.sh: --no-docker and --docker-config exclude each other" >&2; exit 2; }

cd "$(dirname "$(readlink -f "$0")")"
prefix=$(readlink -m "$prefix")
config=$(readlink -m "$config")

say() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }

# The .NET SDK is the one thing this script does not install: it does not come from Debian's archive.
if ! command -v dotnet >/dev/null 2>&1 || [ -z "$(dotnet --list-sdks 2>/dev/null)" ]; then
    die "the .NET SDK (10 or later) is required to build csshim and was not found on PATH; install it (https://learn.microsoft.com/dotnet/core/install/linux) and run install.sh again"
fi

# Packages: the runtimes csshim wraps, busybox for `csshim demo`, and what NativeAOT links with.
if [ "$deps" = 1 ]; then
    missing=()
    for p in runc runsc busybox-static gcc zlib1g-dev; do
        [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == *"install ok installed"* ]] || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if command -v apt-get >/dev/null 2>&1; then
            [ "$(id -u)" = 0 ] || die "installing ${missing[*]} needs root (or pass --no-deps)"
            say "installing ${missing[*]}"
            apt-get update -q
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
        else
            say "no apt-get here: install ${missing[*]} yourself (or pass --no-deps)" >&2
        fi
    fi
fi
command -v clang >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 \
    || die "NativeAOT needs a C toolchain (clang or gcc) and zlib1g-dev; install them or drop --no-deps"

# Build into a private directory; replace the installed binary by rename so a running csshim is never overwritten.
out=$(mktemp -d "${TMPDIR:-/tmp}/csshim-publish.XXXXXX")
trap 'rm -rf "$out"' EXIT
say "building csshim (dotnet publish, NativeAOT)"
dotnet publish src/ShimRuntime -c Release -o "$out" --nologo -v quiet \
    || die "dotnet publish src/ShimRuntime failed (see above)"
[ -x "$out/csshim" ] || die "dotnet publish did not produce $out/csshim"

bin="$prefix/bin/csshim"
mkdir -p "$prefix/bin"
if [ -f "$bin" ] && cmp -s "$out/csshim" "$bin"; then
    say "$bin is already this build"
else
    install -m 0755 "$out/csshim" "$prefix/bin/.csshim.new.$$"
    mv -f "$prefix/bin/.csshim.new.$$" "$bin"
    say "installed $bin"
fi
for lib in "$out"/*.so; do
    [ -e "$lib" ] || continue
    install -m 0644 "$lib" "$prefix/bin/$(basename "$lib")"
    say "installed $prefix/bin/$(basename "$lib") (loaded from beside the binary)"
done

# Default config, only when there is none: the operator's edits always win.
json_string() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
if [ -e "$config" ]; then
    say "$config exists; left as it is"
else
    runtime=$(command -v runsc || command -v runc || command -v crun || true)
    [ -n "$runtime" ] || die "no runtime found (runsc, runc or crun); install one or drop --no-deps"
    args=""
    # Debian's 2022 runsc cannot start with networking on recent kernels (docs/DESIGN.md): give it --network=none.
    case "$(basename "$runtime")" in runsc*) args=', "runtimeArgs": ["--network=none"]' ;; esac
    mkdir -p "$(dirname "$config")"
    tmp="$config.tmp.$$"
    printf '{"runtime": %s%s, "upperSize": "50%%"}\n' "$(json_string "$runtime")" "$args" >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$config"
    say "wrote $config (runtime $runtime)"
fi

# csshim reads /etc/csshim/config.json by default; any other file must be named on every call.
shim_globals=()
runtime_args=()
if [ "$config" != /etc/csshim/config.json ]; then
    shim_globals=(--shim-config "$config")
    runtime_args=(-- "--shim-config=$config")
fi

"$bin" "${shim_globals[@]}" --version >/dev/null || die "$bin --version failed"

if [ "$register" = 1 ]; then
    install_args=()
    if [ "$no_docker" = 1 ]; then
        install_args+=(--no-docker)
    elif [ -n "$docker_config" ]; then
        install_args+=(--docker-config "$docker_config")
    elif ! command -v dockerd >/dev/null 2>&1 && [ ! -d /etc/docker ]; then
        say "Docker not found: skipping daemon.json (use --docker-config FILE to write one anyway)"
        install_args+=(--no-docker)
    fi
    [ -n "$containerd_config" ] && install_args+=(--containerd-config "$containerd_config")
    [ -n "$name" ] && install_args+=(--name "$name")
    "$bin" "${shim_globals[@]}" install "${install_args[@]}" "${runtime_args[@]}"
    if [ "$config" != /etc/csshim/config.json ]; then
        say "note: containerd's runc shim cannot pass --shim-config; csshim called by containerd reads /etc/csshim/config.json"
    fi
fi

if [ "$demo" = 1 ]; then
    "$bin" "${shim_globals[@]}" demo
fi
say "done"
