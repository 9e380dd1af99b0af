#!/usr/bin/env bash
# Installs what webprune needs on a fresh Debian bookworm machine, GPU or not:
#   - a Vulkan driver Dawn accepts. Without a GPU that is Mesa's lavapipe, version 25 or later,
#     from bookworm-backports (bookworm's own Mesa 22.3 is refused by Dawn:
#     "Vulkan shaderUniform*ArrayDynamicIndexing required");
#   - the npm dependencies (npm ci), which also builds the CLI into dist/.
# Usage: sudo bash scripts/setup.sh [--no-npm]     (root or sudo is needed for apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."

run_npm=1
for arg in "$@"; do
  case "$arg" in
    --no-npm) run_npm=0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup.sh: need root (or sudo) to run: $*" >&2; exit 1; fi
}

mesa_major() {
  dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | sed -E 's/^([0-9]+:)?([0-9]+)\..*/\2/' || true
}

if command -v apt-get >/dev/null && [ -r /etc/os-release ]; then
  . /etc/os-release
  have=$(mesa_major)
  if [ -n "$have" ] && [ "$have" -ge 25 ] && dpkg-query -W libvulkan1 >/dev/null 2>&1; then
    echo "setup.sh: Mesa Vulkan drivers $have and libvulkan1 already installed"
  elif [ "${VERSION_CODENAME:-}" = "bookworm" ]; then
    echo "setup.sh: installing Mesa's Vulkan drivers (lavapipe) from bookworm-backports"
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo 'deb http://deb.debian.org/debian bookworm-backports main' | as_root tee /etc/apt/sources.list.d/webprune-backports.list >/dev/null
    fi
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1
  else
    echo "setup.sh: not Debian bookworm (${PRETTY_NAME:-unknown}); installing the distribution's Vulkan drivers"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1 || true
    echo "setup.sh: Dawn needs Mesa 25 or later for lavapipe; check with 'node dist/webprune.mjs info'" >&2
  fi
else
  echo "setup.sh: no apt-get; install a Vulkan driver (Mesa lavapipe >= 25 without a GPU) yourself" >&2
fi

if [ "$run_npm" -eq 1 ]; then
  # onnxruntime-node ships its CPU and WebGPU binaries in the npm package; its install script would
  # fetch CUDA libraries from NuGet (npm 11 skips dependency install scripts anyway: package.json allowScripts).
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi
