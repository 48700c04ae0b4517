#!/usr/bin/env bash
# Installs the distribution packages a part of llmbench needs, and nothing that is already there.
#
# Usage: scripts/install-deps.sh GROUP...
#   build   cmake and libclang-dev: building the in-process engine (llama-cpp-sys-2)
#   sandbox bubblewrap: the sandbox of grader-python-exec
#   metrics prometheus and prometheus-pushgateway: the metrics integration test
#   browser chromium: the HTML report's headless-browser test
#   postgres postgresql: the PostgreSQL store's tests (each starts a private server from
#           /usr/lib/postgresql/*/bin; the package's own cluster is not used)
#   deploy  kubernetes-validate 1.37.0 (pinned, from the Python registry, into a venv under target/deploy-venv)
#           and python3-venv: the schema check of deploy/kubernetes
#   all     every group above (what `cargo xtask ci` installs)
#
# Idempotent: each package is checked with `dpkg -s` first; `apt-get update` runs only when
# something is missing. Debian/Ubuntu only; runs apt-get through sudo when not root.
set -euo pipefail

usage() {
    sed -n '2,16s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

[ "$#" -gt 0 ] || usage

wanted=()
want_deploy=0
for group in "$@"; do
    case "$group" in
        build) wanted+=(cmake libclang-dev) ;;
        sandbox) wanted+=(bubblewrap) ;;
        metrics) wanted+=(prometheus prometheus-pushgateway) ;;
        browser) wanted+=(chromium) ;;
        postgres) wanted+=(postgresql) ;;
        deploy)
            wanted+=(python3-venv)
            want_deploy=1
            ;;
        all)
            wanted+=(cmake libclang-dev bubblewrap prometheus prometheus-pushgateway chromium postgresql python3-venv)
            want_deploy=1
            ;;
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

# kubernetes-validate ships the Kubernetes API schemas; it goes into a venv under target/ (the
# test of deploy/ runs target/deploy-venv/bin/kubernetes-validate), installed only when missing.
install_deploy() {
    local root venv
    root="$(cd "$(dirname "$0")/.." && pwd)"
    venv="$root/target/deploy-venv"
    # A venv that was moved (its scripts name the old path) or half-made does not run: made anew.
    if "$venv/bin/kubernetes-validate" --version >/dev/null 2>&1; then
        echo "install-deps: already installed: kubernetes-validate ($venv)"
        return
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'kubernetes-validate==1.37.0'
    echo "install-deps: installed kubernetes-validate into $venv"
}

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: already installed: ${wanted[*]}"
    if [ "$want_deploy" -eq 1 ]; then install_deploy; fi
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
if [ "$want_deploy" -eq 1 ]; then install_deploy; fi
