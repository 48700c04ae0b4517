#!/usr/bin/env bash
# Installs the distribution packages a part of llmbench needs, and nothing that is already there.
#
# Usage: scripts/install-deps.sh GROUP...
#   build   cmake and libclang-dev: building the in-process engine (llama-cpp-sys-2)
#   sandbox bubblewrap: the sandbox of grader-python-exec
#   metrics prometheus and prometheus-pushgateway: the metrics integration test
#   browser chromium: the HTML report's headless-browser test
#   all     every group above (what `cargo xtask ci` installs)
#
# Idempotent: each package is checked with `dpkg -s` first; `apt-get update` runs only when
# something is missing. Debian/Ubuntu only; runs apt-get through sudo when not root.
set -euo pipefail

usage() {
    sed -n '2,12s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

[ "$#" -gt 0 ] || usage

wanted=()
for group in "$@"; do
    case "$group" in
        build) wanted+=(cmake libclang-dev) ;;
        sandbox) wanted+=(bubblewrap) ;;
        metrics) wanted+=(prometheus prometheus-pushgateway) ;;
        browser) wanted+=(chromium) ;;
        all) wanted+=(cmake libclang-dev bubblewrap prometheus prometheus-pushgateway chromium) ;;
        -h | --help) usage ;;
        *)
            echo "install-deps: unknown group '$group'" >&2
            usage
            ;;
    esac
done

missing=()
for pkg in "${wanted[@]}"; do
    if ! dpkg -s "$pkg" >/dev/null 2>&1; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: already installed: ${wanted[*]}"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing ${missing[*]}, and apt-get is not available; install them with your package manager" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "install-deps: missing ${missing[*]}; run as root or install sudo" >&2
        exit 1
    fi
fi

echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
