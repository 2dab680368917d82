#!/usr/bin/env bash
# Before/after against the native ceiling, alternated and pinned to core 0 (issue 11): TF.js at an
# earlier commit (a git worktree), TF.js at this checkout, and PyTorch 1 thread with OpenBLAS, each
# through ../shared/native-bench's bench_tfjs.ts / bench_torch.py, PAIRS times in turn.
#   bash bench/native-ab.sh <commit-before> [pairs=3] [workloads=a,a_adam,b]
# Needs python3-torch (apt-get install -y python3-torch); results in out/native-bench/ab_*.json,
# medians and ratios printed at the end.
set -euo pipefail
BEFORE="${1:?usage: bash bench/native-ab.sh <commit-before> [pairs] [workloads]}"
PAIRS="${2:-3}"
ONLY="${3:-a,a_adam,b}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
B="$(cd "$ROOT/../shared/native-bench" && pwd)"
OUT="$ROOT/out/native-bench"
WT="${TMPDIR:-/tmp}/native-ab-before"
CACHE="${TMPDIR:-/tmp}/native-bench-openblas"
OB="$CACHE/usr/lib/x86_64-linux-gnu/openblas-openmp"
mkdir -p "$OUT"
if [ ! -e "$OB/libblas.so.3" ]; then mkdir -p "$CACHE" && (cd "$CACHE" && apt-get download libopenblas0-openmp >/dev/null && dpkg -x libopenblas0-openmp_*.deb .); fi
git -C "$ROOT" worktree remove --force "$WT" 2>/dev/null || true
git -C "$ROOT" worktree add -f "$WT" "$BEFORE" >/dev/null
ln -sfn "$ROOT/node_modules" "$WT/node_modules"
TFJS=(node --import ./scripts/lib/node-tfjs.mjs --import tsx "$B/bench_tfjs.ts" --only "$ONLY")
for i in $(seq 1 "$PAIRS"); do
  echo "[$(date +%T)] pair $i: before"; (cd "$WT" && taskset -c 0 "${TFJS[@]}" --out "$OUT/ab_before_$i.json" >/dev/null 2>&1)
  echo "[$(date +%T)] pair $i: after"; (cd "$ROOT" && taskset -c 0 "${TFJS[@]}" --out "$OUT/ab_after_$i.json" >/dev/null 2>&1)
  echo "[$(date +%T)] pair $i: torch"; (cd "$ROOT" && PYTHONPATH="$B" OMP_NUM_THREADS=1 LD_LIBRARY_PATH="$OB" taskset -c 0 /usr/bin/python3 "$B/bench_torch.py" --threads 1 --only "$ONLY" --out "$OUT/ab_torch_$i.json" >/dev/null 2>&1)
done
git -C "$ROOT" worktree remove --force "$WT"
python3 - "$OUT" <<'PY'
import glob, json, statistics, sys
out = sys.argv[1]
def load(kind):
    r = {}
    for f in sorted(glob.glob(f'{out}/ab_{kind}_*.json')):
        d = json.load(open(f)); d = d.get('results', d)
        for k, v in d.items():
            if isinstance(v, dict) and 'median_ms' in v: r.setdefault(k, []).append(v['median_ms'])
    return r
b, a, t = load('before'), load('after'), load('torch')
print('| workload | TF.js before ms | TF.js after ms | PyTorch ms | ratio before | ratio after |\n|---|---|---|---|---|---|')
for k in a:
    if k in b and k in t:
        mb, ma, mt = (statistics.median(x[k]) for x in (b, a, t))
        print(f'| {k} | {mb:.0f} | {ma:.0f} | {mt:.0f} | {mb / mt:.2f} | {ma / mt:.2f} |')
PY
