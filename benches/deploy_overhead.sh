#!/usr/bin/env bash
# Issue 4 benchmark, on a real Docker engine with the autosd-test images:
#  1. overhead of `autosd deploy` (stability window 0) over the bare work: `docker run` plus
#     waiting for the same HEALTHCHECK to report healthy — target ratio <= 1.2;
#  2. `autosd rollback` to a retained release, 1 s health interval — target median <= 2 s.
# Uses the engine at DOCKER_HOST if one answers, else starts a private one (ci/docker_env.sh).
# RUNS=N sets the number of timed runs (default 10). Needs hyperfine and python3.
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_workdir deploy
cleanup() {
    "$cli" ps -aq --filter label=io.autosd.project=bench | xargs -r "$cli" rm -f >/dev/null 2>&1 || true
    "$cli" rm -f autosd-bench-bare >/dev/null 2>&1 || true
    rm -rf "$work"
    autosd_stop_dockerd
}
trap cleanup EXIT
bench_docker_engine
bench_build
runs="${RUNS:-10}"
port_app=18391
port_bare=18392

mkdir -p "$work/repo/.autosd" "$work/home"
cat >"$work/repo/.autosd/config.yml" <<YAML
version: 1
project: bench
environments:
  staging:
    target:
      kind: docker
      ports: ["127.0.0.1:$port_app:8080"]
      init: true
      stop_timeout: 5s
      health:
        http: {port: 8080, path: /health}
        ready_timeout: 30s
        stability_window: 0s
        interval: 1s
YAML
cat >"$work/bare.sh" <<SH
#!/bin/sh
# The bare work: start the container, wait for its HEALTHCHECK to say healthy.
"$cli" run -d --init --name autosd-bench-bare -p 127.0.0.1:$port_bare:8080 autosd-test/web:v1 >/dev/null
until [ "\$("$cli" inspect -f '{{.State.Health.Status}}' autosd-bench-bare)" = healthy ]; do sleep 0.1; done
SH
export AUTOSD_HOME="$work/home"
cd "$work/repo"
deploy="$autosd deploy --project bench --env staging --target docker --log-file $work/autosd.log"

reset="$cli ps -aq --filter label=io.autosd.project=bench | xargs -r $cli rm -f >/dev/null; rm -rf $work/home/state/ledger/bench"
echo "== deploy overhead: first deploy into an empty environment vs the bare work ($runs runs; engine $DOCKER_HOST)"
hyperfine --runs "$runs" --warmup 1 --style basic \
    --prepare "$cli rm -f autosd-bench-bare >/dev/null 2>&1 || true" \
    --prepare "sh -c '$reset'" \
    --export-json "$work/deploy.json" \
    -n "docker run + wait healthy" "sh $work/bare.sh" \
    -n "autosd deploy" "$deploy --image autosd-test/web:v1"

echo "== replacing deploy: candidate on side ports, gate, switch-over ($runs runs)"
$deploy --image autosd-test/web:v2 >/dev/null 2>&1
hyperfine --runs "$runs" --style basic \
    --export-json "$work/replace.json" \
    -n "autosd deploy (replace)" "$deploy --image autosd-test/web:v1"

echo "== rollback to a retained release ($runs runs)"
$deploy --image autosd-test/web:v1 >/dev/null 2>&1
hyperfine --runs "$runs" --style basic \
    --prepare "$deploy --image autosd-test/web:v2 >/dev/null 2>&1" \
    --export-json "$work/rollback.json" \
    -n "autosd rollback" "$autosd rollback --project bench --env staging --target docker --force --log-file $work/autosd.log"

python3 - "$work/deploy.json" "$work/rollback.json" "$work/replace.json" <<'PY'
import json, sys
d = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
bare, ours = d["docker run + wait healthy"], d["autosd deploy"]
ratio = ours["median"] / bare["median"]
print(f"deploy: bare median {bare['median']:.3f} s, autosd median {ours['median']:.3f} s, ratio {ratio:.2f} (target <= 1.2)")
rp = json.load(open(sys.argv[3]))["results"][0]
print(f"replacing deploy (candidate + switch-over): median {rp['median']:.3f} s ({rp['median'] / bare['median']:.2f} x bare)")
rb = json.load(open(sys.argv[2]))["results"][0]
print(f"rollback to a retained release: median {rb['median']:.3f} s, max {rb['max']:.3f} s (target median <= 2 s)")
PY
