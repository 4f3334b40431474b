# Shared by the benchmarks that run against a Docker engine; sourced by them after
# `set -euo pipefail`. Nothing here runs on its own.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
# shellcheck source=ci/docker_env.sh
source ci/docker_env.sh
cli="$(autosd_docker_cli)"

# bench_workdir NAME: a fresh scratch directory for one run of benchmark NAME, in `work`.
bench_workdir() {
    work="$(mktemp -d "/tmp/autosd-bench-$1.XXXXXX")"
}

# The engine at DOCKER_HOST when one answers there, else a private one (stopped by the
# caller's cleanup through autosd_stop_dockerd), with the autosd-test images.
bench_docker_engine() {
    if [ -z "${DOCKER_HOST:-}" ] || ! "$cli" version >/dev/null 2>&1; then
        unset DOCKER_HOST
        autosd_start_dockerd
    fi
    "$cli" image inspect autosd-test/web:v1 >/dev/null 2>&1 || autosd_build_test_images
}

# A release build of autosd, in `autosd`.
bench_build() {
    cargo build --release --locked -q
    autosd="$root/target/release/autosd"
}
