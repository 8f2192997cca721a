#!/usr/bin/env bash
# The main job: set up a Vulkan driver if needed, build, and run the demo on the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="$(mktemp -d)"; chmod 700 "$XDG_RUNTIME_DIR"
fi
exec cargo run --release --locked -- demo "$@"
