#!/usr/bin/env bash
# Whole-process time of `autosd preauth verify TOKEN` on a release build (target: median ≤ 5 ms).
# Uses hyperfine when installed, else a timing loop. Run: bash benches/preauth_verify_cli.sh
# On a shared machine the wall-clock median depends on load; the CPU time per run does not.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release --locked --quiet
bin="$PWD/target/release/autosd"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export AUTOSD_HOME="$work/home"
cd "$work"

"$bin" preauth init-keys >/dev/null
token="$("$bin" preauth create-grant --project-ids my-project --auto-deploy-prod --expires-in-hours 1 | tail -n 1)"
"$bin" preauth verify "$token" >/dev/null   # must succeed before timing

if command -v hyperfine >/dev/null 2>&1; then
  hyperfine --shell=none --warmup 20 --runs 300 --export-json "$work/h.json" \
    "$bin preauth verify $token --project my-project --env prod --capability deploy" >/dev/null
  python3 - "$work/h.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"preauth verify (hyperfine, {len(r['times'])} runs): median {r['median']*1000:.2f} ms, "
      f"mean {r['mean']*1000:.2f} ms, min {r['min']*1000:.2f} ms, "
      f"CPU per run {(r['user'] + r['system'])*1000:.2f} ms (user {r['user']*1000:.2f}, sys {r['system']*1000:.2f}); "
      f"target median <= 5 ms: {'met' if r['median'] <= 0.005 else 'NOT met'}")
PY
else
  runs=300
  times=()
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "$bin" preauth verify "$token" --project my-project --env prod --capability deploy >/dev/null
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "preauth verify (loop, $runs runs): median $((median / 1000)).$(( (median % 1000) / 10 )) ms (includes fork/exec of date)"
fi
