#!/usr/bin/env bash
# The project's test command (README.md): sets up a Vulkan driver if needed, then formatting,
# lints, docs, and every test (unit, integration on the CPU and on the GPU — lavapipe when
# there is no GPU — and doc tests), and checks that the benchmarks build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# wgpu picks Vulkan (lavapipe on CI); Mesa wants a private runtime dir.
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="$(mktemp -d)"; chmod 700 "$XDG_RUNTIME_DIR"
fi
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked
cargo test --locked
cargo bench --locked --no-run
