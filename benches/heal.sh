#!/usr/bin/env bash
# Issue 5 benchmark, on a real Docker engine with the autosd-test images:
#  1. time to recover from a killed container, from `docker kill` to the app answering
#     /health again, with `autosd heal --watch --interval 1` and a 1 s health interval —
#     target median <= 4 s;
#  2. one-shot `autosd heal` on a healthy project with 3 environments, whole process —
#     target median <= 300 ms.
# Uses the engine at DOCKER_HOST if one answers, else starts a private one (ci/docker_env.sh).
# RUNS=N sets the number of kills (default 10). Needs hyperfine and python3.
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_workdir heal
watch_pid=""
cleanup() {
    if [ -n "$watch_pid" ]; then kill -TERM "$watch_pid" 2>/dev/null || true; wait "$watch_pid" 2>/dev/null || true; fi
    "$cli" ps -aq --filter label=io.autosd.project=benchheal | xargs -r "$cli" rm -f >/dev/null 2>&1 || true
    rm -rf "$work"
    autosd_stop_dockerd
}
trap cleanup EXIT
bench_docker_engine
bench_build
runs="${RUNS:-10}"
ports=(18461 18462 18463)

mkdir -p "$work/repo/.autosd" "$work/home"
{
    echo "version: 1"
    echo "project: benchheal"
    echo "environments:"
    i=0
    for env in staging qa dev; do
        # Every kill is a restart of the same release: lift the crash-loop cap for the bench.
        cat <<YAML
  $env:
    heal: {max_restarts_per_hour: 1000}
    target:
      kind: docker
      ports: ["127.0.0.1:${ports[$i]}:8080"]
      init: true
      stop_timeout: 2s
      health:
        http: {port: 8080, path: /health}
        ready_timeout: 10s
        stability_window: 0s
        interval: 1s
YAML
        i=$((i + 1))
    done
} >"$work/repo/.autosd/config.yml"
export AUTOSD_HOME="$work/home"
cd "$work/repo"
for env in staging qa dev; do
    "$autosd" deploy --project benchheal --env "$env" --target docker --image autosd-test/web:v1 \
        --log-file "$work/autosd.log" >/dev/null
done

echo "== one-shot heal, healthy project with 3 environments (engine $DOCKER_HOST)"
hyperfine --warmup 2 --runs 20 --export-json "$work/oneshot.json" \
    "$autosd heal --project benchheal --target docker --log-file $work/autosd.log"
python3 - "$work/oneshot.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"one-shot heal median: {r['median']*1000:.0f} ms (target <= 300 ms)")
PY

echo "== kill -> healthy with heal --watch --interval 1 ($runs kills)"
"$autosd" heal --project benchheal --env staging --target docker --watch --interval 1 \
    --log-file "$work/autosd.log" >"$work/watch.out" 2>"$work/watch.err" &
watch_pid=$!
python3 - "$cli" "${ports[0]}" "$runs" <<'PY'
import statistics, subprocess, sys, time, urllib.request
cli, port, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def healthy():
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).status == 200
    except Exception:
        return False
def serving():
    out = subprocess.run([cli, "ps", "-q", "--filter", "label=io.autosd.project=benchheal",
                          "--filter", "label=io.autosd.env=staging", "--filter", "label=io.autosd.role=release"],
                         capture_output=True, text=True).stdout.split()
    return out[0] if out else None
times = []
for n in range(runs):
    deadline = time.time() + 30
    while not (healthy() and serving()):
        if time.time() > deadline:
            sys.exit("not healthy before a kill")
        time.sleep(0.05)
    time.sleep(1.5)  # let the watcher see a healthy pass (and close the incident)
    c = serving()
    t0 = time.monotonic()
    subprocess.run([cli, "kill", c], check=True, capture_output=True)
    while healthy():
        time.sleep(0.01)
    while not healthy():
        if time.monotonic() - t0 > 60:
            sys.exit("did not recover within 60 s")
        time.sleep(0.02)
    times.append(time.monotonic() - t0)
    print(f"  run {n + 1}: {times[-1]:.2f} s")
print(f"kill -> healthy median: {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}; target <= 4 s)")
PY
