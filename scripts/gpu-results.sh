#!/usr/bin/env bash
# Fills bench/RESULTS.md from the output folder of a GPU run (scripts/gpu-run.sh --out DIR; on the
# device tool, the folder its files came back to), and puts the pretrained model together:
#
#   bash scripts/gpu-results.sh DIR [--unpack TO] [--write FILE]
#
#   DIR          holds summary.md, run.log, results.tar and the model's safetensors shard(s)
#   --unpack TO  where results.tar is unpacked (default runs/gpu-results; DIR may be read-only):
#                TO/results/ then holds every report, and TO/results/mini-f16/ the whole f16 model
#                (config, shard index, tokenizer and the shards), ready to copy into checkpoints/
#   --write FILE the markdown written (default bench/RESULTS.md; for a dry run's folder
#                TO/RESULTS-dry-run.md, and never bench/RESULTS.md); '-' prints it
#
# A dry run (gpu-run.sh --dry-run: lavapipe, tiny sizes) is written under a title and a banner that
# say so, and never into bench/RESULTS.md, where only GPU results go.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dir="" to="$ROOT/runs/gpu-results" write=""
while [ $# -gt 0 ]; do
  case "$1" in
    --unpack) to=$2; shift 2 ;;
    --write) write=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gpu-results.sh: unknown option $1" >&2; exit 2 ;;
    *) [ -z "$dir" ] || { echo "gpu-results.sh: one output folder only" >&2; exit 2; }; dir=$1; shift ;;
  esac
done
[ -n "$dir" ] || { echo "usage: scripts/gpu-results.sh DIR [--unpack TO] [--write FILE]" >&2; exit 2; }
[ -f "$dir/results.tar" ] || { echo "gpu-results.sh: $dir/results.tar not found (is $dir a gpu-run.sh output folder?)" >&2; exit 1; }
dir=$(cd "$dir" && pwd)
results_md=$ROOT/bench/RESULTS.md
if tar -xOf "$dir/results.tar" results/env.txt 2>/dev/null | grep -x 'mode: gpu' >/dev/null; then  # not grep -q: tar's SIGPIPE under pipefail
  [ -n "$write" ] || write=$results_md
else
  [ -n "$write" ] || write=$to/RESULTS-dry-run.md
  if [ "$write" != - ] && [ "$(realpath -m "$write")" = "$(realpath -m "$results_md")" ]; then
    echo "gpu-results.sh: $dir is a dry run (lavapipe), not a GPU run: it is never written to bench/RESULTS.md" >&2
    exit 1
  fi
fi

rm -rf "$to/results"
mkdir -p "$to"
tar -C "$to" -xf "$dir/results.tar"
shards=()
for f in "$dir"/*.safetensors; do
  [ -e "$f" ] || continue
  mkdir -p "$to/results/mini-f16"
  cp "$f" "$to/results/mini-f16/"
  shards+=("$(basename "$f")")
done
chmod -R u+w "$to/results"
cd "$ROOT"
md=$(node --import ./scripts/ts-register.mjs gpu/main.ts results "$to/results" --shards "$(IFS=,; echo "${shards[*]}")")
if [ "$write" = - ]; then printf '%s\n' "$md"; else printf '%s\n' "$md" > "$write"; echo "wrote $write"; fi
[ ${#shards[@]} -gt 0 ] && echo "the f16 model: $to/results/mini-f16 (${shards[*]} beside its config, index and tokenizer)"
echo "reports: $to/results"
