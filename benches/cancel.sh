#!/usr/bin/env bash
# How fast a cancelled deploy lets go: from SIGTERM, sent while `autosd deploy` is in its
# health gate, to the process's exit — having taken the release back (the generic target's
# deploy command restores the previous release), written the ledger verdict and the audit
# outcome, and released the lock. A cancelled GitHub Actions job gets 7.5 s after its SIGINT
# before SIGTERM, and 2.5 s more before the kill: target median <= 1 s, max well under 7.5 s.
# No engine needed (generic_container with shell commands). RUNS=N (default 20). Needs python3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --locked -q
bin="$PWD/target/release/autosd"
runs="${RUNS:-20}"
work="$(mktemp -d /tmp/autosd-bench-cancel.XXXXXX)"
trap 'rm -rf "$work"' EXIT
export AUTOSD_HOME="$work/home"
mkdir -p "$work/repo/.autosd" "$work/platform"
config() {
    cat >"$work/repo/.autosd/config.yml" <<YAML
version: 1
project: cancel
environments:
  staging:
    target:
      kind: generic_container
      deploy: ["sh", "-c", "printf '%s' \"\$AUTOSD_IMAGE\" > '$work/platform/current'"]
      status: ["true"]
      health: {ready_timeout: 10s, stability_window: $1, interval: 1s}
YAML
}
cd "$work/repo"
config 0s
"$bin" deploy --project cancel --env staging --target generic_container --image "shop@sha256:good" >/dev/null 2>&1
config 10m
for i in $(seq 1 "$runs"); do
    # The binary itself in the background (a function would run in a subshell, which would
    # receive the signal instead).
    "$bin" deploy --project cancel --env staging --target generic_container \
        --image "shop@sha256:next$i" >/dev/null 2>"$work/stderr" &
    pid=$!
    until grep -q "health" "$work/stderr" 2>/dev/null; do sleep 0.01; done
    start=$(date +%s.%N)
    kill -TERM "$pid"
    code=0
    wait "$pid" || code=$?
    end=$(date +%s.%N)
    [ "$code" -eq 130 ] || { echo "run $i: exit $code, expected 130" >&2; cat "$work/stderr" >&2; exit 1; }
    [ "$(cat "$work/platform/current")" = "shop@sha256:good" ] || { echo "run $i: not taken back" >&2; exit 1; }
    # A lock left behind would fail the next run with AUTOSD-LOCK-HELD (45).
    echo "$start $end" >>"$work/times"
done
python3 - "$work/times" <<'PY'
import statistics, sys
t = [float(b) - float(a) for a, b in (line.split() for line in open(sys.argv[1]))]
m = statistics.median(t)
print(f"SIGTERM in the gate -> exit 130, release taken back, lock free ({len(t)} runs): "
      f"median {m*1000:.0f} ms, min {min(t)*1000:.0f} ms, max {max(t)*1000:.0f} ms; "
      f"target median <= 1 s: {'met' if m <= 1 else 'NOT met'}")
PY
