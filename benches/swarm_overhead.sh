#!/usr/bin/env bash
# Issue 8 benchmark, on a real single-node swarm with the autosd-test images in a registry:
# autosd's overhead over `docker service update --detach=false --image <digest>` for the same
# update — target ratio <= 1.2. Two services with identical settings (1 replica, host-mode
# port, update parallelism 1, monitor MONITOR, stop-first, init, 2 s stop grace), each
# flipped between the v1 and v2 digests on every run:
#   bare:   docker service update --detach=false --image <digest>  (the CLI waits for the
#           task to run, then watches it for `monitor` before it calls the update converged);
#   autosd: autosd deploy --image <digest>, stability window = MONITOR (the same wait after
#           the task is ready), health interval 250 ms (so the window is not rounded up to
#           a coarse interval), plus its own work: registry digest lookup, lock, ledger,
#           audit intent/outcome and checkpoint.
# Uses the engine at DOCKER_HOST and the registry at AUTOSD_TEST_REGISTRY when both are there
# (the engine a swarm manager), else starts a private dockerd, swarm and registry
# (ci/docker_env.sh). RUNS=N timed runs per side (default 6); MONITOR (default 2s).
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_workdir swarm
cleanup() {
    "$cli" service rm bench-staging autosd-bench-bare >/dev/null 2>&1 || true
    "$cli" config rm autosd-lock-bench-staging >/dev/null 2>&1 || true
    rm -rf "$work"
    # Only what this script started: a developer's engine and registry stay up.
    if [ "$started" = 1 ]; then
        autosd_stop_registry
        autosd_stop_dockerd
    fi
}
started=0
trap cleanup EXIT
manager() { [ "$("$cli" info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null)" = true ]; }
if [ -n "${DOCKER_HOST:-}" ] && "$cli" version >/dev/null 2>&1 && manager && [ -n "${AUTOSD_TEST_REGISTRY:-}" ]; then
    echo "using the swarm at $DOCKER_HOST and the registry at $AUTOSD_TEST_REGISTRY"
else
    unset DOCKER_HOST AUTOSD_TEST_REGISTRY
    started=1
    autosd_start_dockerd
    autosd_swarm_init
    autosd_build_test_images
    autosd_start_registry
    autosd_push_test_images
fi
bench_build
runs="${RUNS:-6}"
monitor="${MONITOR:-2s}"
port_app=18393
port_bare=18394
reg="$AUTOSD_TEST_REGISTRY"
digest() {
    # The digest the registry serves for the tag, as `docker service update` would pin it.
    "$cli" image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$reg/autosd-test/web:$1" | grep "^$reg/autosd-test/web@" | head -n1
}
v1="$(digest v1)"
v2="$(digest v2)"
echo "v1 = $v1"
echo "v2 = $v2"

mkdir -p "$work/repo/.autosd" "$work/home"
cat >"$work/repo/.autosd/config.yml" <<YAML
version: 1
project: bench
environments:
  staging:
    target:
      kind: swarm
      ports: ["$port_app:8080"]
      init: true
      stop_timeout: 2s
      update: {parallelism: 1, monitor: $monitor, order: stop-first}
      health: {ready_timeout: 60s, stability_window: $monitor, interval: 250ms}
YAML
export AUTOSD_HOME="$work/home"
cd "$work/repo"
deploy="$autosd deploy --project bench --env staging --target swarm --log-file $work/autosd.log"
"$cli" service create --detach=false --quiet --name autosd-bench-bare --replicas 1 \
    --publish "mode=host,published=$port_bare,target=8080" --init --stop-grace-period 2s \
    --update-parallelism 1 --update-monitor "$monitor" --update-order stop-first \
    --update-failure-action pause "$v1" >/dev/null
$deploy --image "$v1" >/dev/null 2>&1

# Each run flips its service to the other digest, so every timed command is a real update.
cat >"$work/flip.sh" <<SH
#!/bin/sh
# usage: flip.sh bare|autosd — updates that side to the digest it does not run now.
state="$work/\$1.next"
next="\$(cat "\$state" 2>/dev/null || echo "$v2")"
if [ "\$next" = "$v2" ]; then echo "$v1" >"\$state"; else echo "$v2" >"\$state"; fi
case "\$1" in
    bare) exec "$cli" service update --detach=false --quiet --image "\$next" autosd-bench-bare >/dev/null ;;
    autosd) exec $deploy --image "\$next" >/dev/null 2>&1 ;;
esac
SH
echo "== one update, v1 <-> v2, $runs runs per side (monitor = stability window = $monitor; engine $DOCKER_HOST)"
hyperfine --runs "$runs" --warmup 1 --style basic \
    --export-json "$work/update.json" \
    -n "docker service update --detach=false" "sh $work/flip.sh bare" \
    -n "autosd deploy (swarm)" "sh $work/flip.sh autosd"
"$autosd" releases --project bench --env staging | tail -n 3

python3 - "$work/update.json" <<'PY'
import json, sys
d = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
bare, ours = d["docker service update --detach=false"], d["autosd deploy (swarm)"]
ratio = ours["median"] / bare["median"]
print(f"swarm update: docker CLI median {bare['median']:.3f} s (min {bare['min']:.3f}, max {bare['max']:.3f}), "
      f"autosd median {ours['median']:.3f} s (min {ours['min']:.3f}, max {ours['max']:.3f}), ratio {ratio:.2f} (target <= 1.2)")
PY
