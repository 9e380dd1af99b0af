#!/usr/bin/env bash
# The GPU program: everything webprune wants measured on a GPU, in one command, within one device
# call (the device tool runs a command for at most 10 minutes; the default budget is 9).
#
#   bash scripts/gpu-run.sh --out "$OUT"          on the GPU machine (device tool: carry [".gpu-pack"])
#   bash scripts/gpu-run.sh --dry-run             the same stages on lavapipe at tiny sizes (~1-2 min)
#
# Stages, each with its own time cap, each skipped when one it needs failed (every stage needs the one
# before it, except that tests, bench and pretrain each need only check; --keep-going runs them
# anyway), all inside --budget seconds:
#   setup     Node, node_modules and the Vulkan loader from .gpu-pack/ (scripts/gpu-pack.sh made it on
#             a CPU machine), the data slice, the machine's description (env.txt)
#   check     `webprune info`: a WebGPU adapter, and not a CPU one (lavapipe, SwiftShader)
#   tests     the GPU-relevant tests on the real adapter: those tagged @gpu in test/engine,
#             test/models (BERT and its parity with transformers, masked attention and FFN) and
#             test/pruning (masks, compaction), the same float64-checked tests at the same bounds as
#             on lavapipe. A failed test is reported, and the stages after it still run: they need
#             only the adapter, and each checks its own outputs
#   bench     `bench kernels --size base --torch` (PyTorch on the same GPU: fp32 with TF32 off, and
#             fp16; the BERT-base training step's peak memory beside PyTorch's),
#             `bench speedup --model base --torch`, and `bench peers --size base` when peers are packed
#   pretrain  MLM pretraining of the `mini` encoder for the time left, with a whole learning-rate
#             schedule (gpu/pretrain_budget.ts), converted to f16 shards of at most 15 MiB, with its
#             held-out loss curve
#
# What comes back (--out, default runs/gpu-run): at most 8 files of at most 16 MiB, rewritten after
# every stage so a run cut short still returns what it finished:
#   summary.md     the summary table (also printed last)
#   run.log        everything the stages printed
#   results.tar    results/: env.txt, stages.tsv, commands.txt, info.json, tests.log, kernels.{json,md},
#                  speedup.{json,md,svg}, peers.{json,md}, pretrain/ (metrics.jsonl, summary.json,
#                  budget.json, run.json, loss.svg), mini-f16/ (config, shard index, tokenizer files)
#   model-0000k-of-0000n.safetensors   the f16 shards of the pretrained mini (their index is in mini-f16/)
# `scripts/gpu-results.sh DIR` unpacks results.tar into runs/gpu-results/results (the model folder
# whole in its mini-f16/) and writes bench/RESULTS.md from it.
#
# Options:
#   --out DIR        output folder (default runs/gpu-run, runs/gpu-dry-run with --dry-run)
#   --dry-run        lavapipe, tiny sizes, short caps, a tiny corpus cut from the data root
#   --budget S       total seconds (default 540; 240 with --dry-run)
#   --keep-going     run every stage even when one before failed
#   --python PATH    interpreter with torch for the PyTorch rows (default python3; with --dry-run the
#                    first of $WEBPRUNE_PYTHON, python3, /usr/bin/python3 that has torch, else none)
#   --pack DIR       the pack (default .gpu-pack); --no-pack ignores it (the system's Node and the
#                    tree's node_modules; what the suite's dry run uses)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

out="" dry=0 budget="" keep_going=0 python="" pack="$ROOT/.gpu-pack"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --budget) budget=$2; shift 2 ;;
    --keep-going) keep_going=1; shift ;;
    --python) python=$2; shift 2 ;;
    --pack) pack=$2; shift 2 ;;
    --no-pack) pack=""; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$budget" ] || budget=$([ $dry -eq 1 ] && echo 240 || echo 540)
[[ "$budget" =~ ^[0-9]+$ ]] || { echo "gpu-run.sh: --budget must be whole seconds (got $budget)" >&2; exit 2; }
[ -n "$out" ] || out=$([ $dry -eq 1 ] && echo runs/gpu-dry-run || echo runs/gpu-run)
[ -n "$pack" ] && [ ! -d "$pack" ] && pack=""

START=$(date +%s)
DEADLINE=$((START + budget))
mkdir -p "$out" || exit 1
out=$(cd "$out" && pwd)
rm -f "$out/summary.md" "$out/run.log" "$out/results.tar" "$out"/model-*.safetensors "$out/model.safetensors"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/webprune-gpu-run.XXXXXX")
R=$WORK/results
mkdir -p "$R"
LOG=$out/run.log
: > "$LOG"

now() { date +%s; }
log() { printf '[gpu-run %s +%ds] %s\n' "$(date -u +%H:%M:%S)" $(($(now) - START)) "$*" | tee -a "$LOG" >&2; }

# ---- stages -------------------------------------------------------------------------------------
STAGE="" STAGE_T0=0 STAGE_END=0 STAGE_NOTE="" PREVIOUS_OK=1
printf 'stage\tstatus\tseconds\tnote\n' > "$R/stages.tsv"
# The mode first, so that a run whose setup fails is still labelled for what it was.
echo "mode: $([ $dry -eq 1 ] && echo dry-run || echo gpu)" > "$R/env.txt"

# begin_stage NAME CAP: returns 1 (and records the stage as skipped) when a stage it needs failed (PREVIOUS_OK is 0).
begin_stage() {
  STAGE=$1
  STAGE_T0=$(now)
  STAGE_NOTE=""
  if [ "$PREVIOUS_OK" -ne 1 ] && [ "$keep_going" -ne 1 ]; then
    log "== $STAGE: skipped (a stage it needs failed; --keep-going runs it anyway)"
    printf '%s\tskipped\t0\ta stage it needs failed\n' "$STAGE" >> "$R/stages.tsv"
    return 1
  fi
  STAGE_END=$((STAGE_T0 + $2))
  [ "$STAGE_END" -le "$DEADLINE" ] || STAGE_END=$DEADLINE
  log "== $STAGE (cap $((STAGE_END - STAGE_T0)) s)"
  return 0
}

# end_stage STATUS [NOTE]: records the stage, then rewrites the output folder.
end_stage() {
  local status=$1 note=${2:-$STAGE_NOTE}
  printf '%s\t%s\t%s\t%s\n' "$STAGE" "$status" $(($(now) - STAGE_T0)) "${note//$'\t'/ }" >> "$R/stages.tsv"
  log "== $STAGE: $status${note:+ ($note)}"
  [ "$status" = ok ] && PREVIOUS_OK=1 || PREVIOUS_OK=0
  collect
}

# run_cmd LABEL [--cap S] [--stdout FILE] CMD...: runs CMD with what is left of the stage's cap, or
# S seconds if fewer (SIGTERM, then SIGKILL 20 s later), its output in the log (and stdout also in
# FILE). Returns CMD's status; 124 when the cap ran out.
run_cmd() {
  local label=$1 file=/dev/null own=""
  shift
  if [ "$1" = --cap ]; then own=$2; shift 2; fi
  if [ "$1" = --stdout ]; then file=$2; shift 2; fi
  local cap=$((STAGE_END - $(now)))
  [ -n "$own" ] && [ "$own" -lt "$cap" ] && cap=$own
  if [ "$cap" -lt 5 ]; then
    log "$label: not started, the $STAGE stage's cap is spent"
    return 124
  fi
  # As a reader would type it: paths inside the tree and the scratch folder relative, Node as "node".
  printf '%s\n' "$*" | sed "s|$ROOT/||g; s|$WORK/||g; s|^${NODE:-node} |node |" >> "$R/commands.txt"
  log "$label: $* (cap ${cap} s)"
  timeout --signal=TERM --kill-after=20 "$cap" "$@" 2> >(tee -a "$LOG" >&2) | tee "$file" | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 124 ] && log "$label: timed out after ${cap} s"
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && log "$label: failed (exit $rc)"
  return "$rc"
}

# ---- the output folder --------------------------------------------------------------------------
# summary.md, run.log, results.tar and the model shards: at most 8 files of at most 16 MiB each.
collect() {
  if [ -n "${NODE:-}" ] && "$NODE" --import ./scripts/ts-register.mjs gpu/main.ts summary "$R" > "$R/summary.md.tmp" 2>> "$LOG"; then
    mv "$R/summary.md.tmp" "$R/summary.md"
  else
    { echo "## webprune GPU run (summary without Node: the stages as recorded)"; echo; column -t -s $'\t' "$R/stages.tsv" 2>/dev/null || cat "$R/stages.tsv"; } > "$R/summary.md"
  fi
  cp "$R/summary.md" "$out/summary.md"
  tar -C "$WORK" -cf "$out/results.tar.tmp" results && mv "$out/results.tar.tmp" "$out/results.tar"
  local n big
  n=$(find "$out" -maxdepth 1 -type f | wc -l)
  big=$(find "$out" -maxdepth 1 -type f -size +16M -printf '%f ')
  [ "$n" -le 8 ] || log "WARNING: $n files in $out; the device tool returns at most 8"
  [ -z "$big" ] || log "WARNING: over 16 MiB, will not come back: $big"
}

# ---- setup --------------------------------------------------------------------------------------
NODE=""
unxz_to() { # unxz_to FILE.xz DEST: xz, else Python's lzma (the GPU image may lack xz)
  if command -v xz >/dev/null; then xz -dc "$1" > "$2"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}
untar_xz() { # untar_xz FILE.tar.xz DIR
  if command -v xz >/dev/null; then tar -C "$2" -xJf "$1"; else python3 -c 'import tarfile, sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"; fi
}
pack_lock_sha() { grep -o '"package_lock_sha256": *"[0-9a-f]*"' "$pack/pack.json" | grep -o '[0-9a-f]\{64\}'; }

setup_node() {
  if [ -n "$pack" ] && [ -f "$pack/node.xz" ]; then
    mkdir -p "$WORK/bin"
    unxz_to "$pack/node.xz" "$WORK/bin/node" && chmod +x "$WORK/bin/node" || { STAGE_NOTE="cannot unpack $pack/node.xz"; return 1; }
    NODE=$WORK/bin/node
  elif [ "${WEBPRUNE_GPU_RUN_REQUIRE_PACK:-0}" = 1 ]; then
    STAGE_NOTE="no node.xz in the pack ($pack)"; return 1
  else
    NODE=$(command -v node) || { STAGE_NOTE="no Node: make the pack with scripts/gpu-pack.sh"; return 1; }
  fi
  "$NODE" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 6) ? 0 : 1)' ||
    { STAGE_NOTE="$NODE is not Node 20.6 or later"; return 1; }
  export PATH="$(dirname "$NODE"):$PATH"
}

setup_modules() {
  local lock
  lock=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ -n "$pack" ] && [ -f "$pack/node_modules.tar.xz" ]; then
    if [ "$(pack_lock_sha)" != "$lock" ]; then
      if [ $dry -eq 1 ]; then STAGE_NOTE="the pack's node_modules is from another package-lock.json: run scripts/gpu-pack.sh again"; return 1; fi
      log "WARNING: the pack's node_modules is from another package-lock.json (run scripts/gpu-pack.sh again); going on"
    fi
    if [ -f node_modules/.gpu-pack-lock ] && [ "$(cat node_modules/.gpu-pack-lock)" = "$(pack_lock_sha)" ]; then
      log "node_modules: unpacked by an earlier run"
    elif [ -e node_modules ] && [ ! -f node_modules/.gpu-pack-lock ]; then
      log "node_modules: the tree's own (not replaced by the pack's)"
    else
      rm -rf node_modules && untar_xz "$pack/node_modules.tar.xz" "$ROOT" || { STAGE_NOTE="cannot unpack node_modules"; return 1; }
      pack_lock_sha > node_modules/.gpu-pack-lock
      log "node_modules: unpacked from the pack"
    fi
  elif [ "${WEBPRUNE_GPU_RUN_REQUIRE_PACK:-0}" = 1 ]; then
    STAGE_NOTE="no node_modules.tar.xz in the pack"; return 1
  fi
  [ -d node_modules/webgpu ] && [ -f node_modules/esbuild/package.json ] && [ -f node_modules/mocha/bin/mocha.js ] ||
    { STAGE_NOTE="node_modules lacks webgpu, esbuild or mocha (npm ci, or scripts/gpu-pack.sh)"; return 1; }
}

# The Vulkan loader (the README of the device tool: its .debs unpacked into / as root), and NVIDIA's
# driver manifests where the image keeps them outside the loader's search path.
setup_vulkan() {
  [ $dry -eq 1 ] && return 0
  # grep reads all of ldconfig's output: grep -q would exit at the first match and, under pipefail,
  # ldconfig's SIGPIPE would make a present loader look absent, depending on timing.
  if ! ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1' >/dev/null; then
    [ -n "$pack" ] && compgen -G "$pack/gl/*.deb" >/dev/null || { STAGE_NOTE="no libvulkan.so.1 and no .debs in the pack"; return 1; }
    if [ "$(id -u)" -eq 0 ]; then
      for f in "$pack"/gl/*.deb; do dpkg -x "$f" /; done
      ldconfig
      log "Vulkan loader: unpacked the pack's .debs into /"
    else
      for f in "$pack"/gl/*.deb; do dpkg -x "$f" "$WORK/gl"; done
      export LD_LIBRARY_PATH="$WORK/gl/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      log "Vulkan loader: the pack's .debs in $WORK/gl (not root)"
    fi
  fi
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ] && ! compgen -G '/usr/share/vulkan/icd.d/nvidia*' >/dev/null && ! compgen -G '/etc/vulkan/icd.d/nvidia*' >/dev/null; then
    export VK_DRIVER_FILES=$icd
    [ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
    log "Vulkan driver: $icd (VK_DRIVER_FILES)"
  fi
}

# The interpreter for the PyTorch rows: one that imports torch, else none (the rows are left out).
setup_python() {
  local candidates
  if [ -n "$python" ]; then candidates=("$python")
  elif [ $dry -eq 1 ]; then candidates=(${WEBPRUNE_PYTHON:-} python3 /usr/bin/python3)
  else candidates=(python3); fi
  PYTHON=""
  for p in "${candidates[@]}"; do
    if "$p" -c 'import torch' >/dev/null 2>&1; then PYTHON=$p; break; fi
  done
  if [ -n "$PYTHON" ]; then TORCH=(--torch --python "$PYTHON"); else TORCH=(); log "no Python with torch (tried ${candidates[*]}): the PyTorch rows are left out"; fi
}

setup_data() {
  if [ -n "$pack" ] && [ -d "$pack/data" ]; then export WEBPRUNE_DATA=$pack/data; fi
  DATA=${WEBPRUNE_DATA:-$ROOT/../shared/data}
  [ -f "$DATA/vocab/bert-base-uncased/vocab.txt" ] || { STAGE_NOTE="no vocabulary in the data root $DATA"; return 1; }
  if [ $dry -eq 1 ]; then
    # A tiny corpus: the first paragraphs of the first shard and of the held-out file.
    CORPUS=$WORK/dry-corpus
    mkdir -p "$CORPUS"
    local shard
    shard=$(ls "$DATA"/corpus/train-*.txt.gz 2>/dev/null | head -1)
    [ -n "$shard" ] && [ -f "$DATA/corpus/valid.txt.gz" ] || { STAGE_NOTE="no corpus in $DATA/corpus"; return 1; }
    # (gzip -dc ends on SIGPIPE when head has enough: not an error)
    { gzip -dc "$shard" | head -n 3000 | gzip > "$CORPUS/train-dry.txt.gz"; } 2>/dev/null || true
    { gzip -dc "$DATA/corpus/valid.txt.gz" | head -n 400 | gzip > "$CORPUS/valid.txt.gz"; } 2>/dev/null || true
    [ -s "$CORPUS/train-dry.txt.gz" ] && [ -s "$CORPUS/valid.txt.gz" ] || { STAGE_NOTE="cannot cut a corpus from $shard"; return 1; }
  else
    CORPUS=$DATA/corpus
    compgen -G "$CORPUS/train-*.txt.gz" >/dev/null || { STAGE_NOTE="no corpus shards in $CORPUS"; return 1; }
  fi
}

describe_machine() {
  {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    if git rev-parse HEAD >/dev/null 2>&1; then
      echo "commit: $(git rev-parse HEAD)$([ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && echo ' (with uncommitted changes)')"
    else # the tree travelled without .git
      echo "commit: unknown (no .git; the pack was made at $(grep -o '"commit": *"[0-9a-f]*"' "$pack/pack.json" 2>/dev/null | grep -o '[0-9a-f]\{40\}' || echo '?'))"
    fi
    echo "budget: $budget s"
    echo "node: $("$NODE" -v) ($NODE)"
    echo "webgpu: $("$NODE" -p "require('./node_modules/webgpu/package.json').version")"
    echo "torch: $([ -n "$PYTHON" ] && "$PYTHON" -c 'import torch; print(torch.__version__, "cuda" if torch.cuda.is_available() else "cpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>/dev/null || echo none)"
    command -v nvidia-smi >/dev/null && echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null | head -1)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') ($(nproc) cores)"
    echo "kernel: $(uname -sr)"
    echo "vulkan: VK_DRIVER_FILES=${VK_DRIVER_FILES:-} LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    echo "data: $DATA"
    [ -n "$pack" ] && [ -f "$pack/pack.json" ] && echo "pack: $(grep -o '"created": *"[^"]*"\|"commit": *"[^"]*"' "$pack/pack.json" | tr '\n' ' ')"
  } >> "$R/env.txt" 2>/dev/null
  cat "$R/env.txt" >> "$LOG"
}

if begin_stage setup 120; then
  PYTHON="" TORCH=()
  if setup_node && setup_modules && setup_vulkan && setup_data; then
    setup_python
    describe_machine
    WEBPRUNE=("$NODE" --import ./scripts/ts-register.mjs --enable-source-maps cli/webprune.ts)
    GPU=("$NODE" --import ./scripts/ts-register.mjs --enable-source-maps gpu/main.ts)
    end_stage ok "Node $("$NODE" -v)$([ -n "$pack" ] && echo ' from the pack'), torch: ${PYTHON:-none}"
  else
    end_stage failed
  fi
fi

# ---- check: the adapter and the GPU-relevant tests ----------------------------------------------
# The tests that need an adapter (tagged @gpu) in the engine, the model (BERT, its parity with
# transformers, masked attention and FFN, f16) and pruning (masks, compaction): chosen by tag, so a
# test added there with @gpu runs on the GPU too. The dry run takes only the parity test, through
# the same path.
if [ $dry -eq 1 ]; then
  TESTS=(test/models/parity.test.ts)
else
  TESTS=(test/engine test/models test/pruning)
fi
# probe_adapter: `webprune info` into info.json; ADAPTER describes what Dawn opened. Returns 1 when
# there is no adapter, 2 when it is a CPU one (lavapipe, SwiftShader) on a GPU run.
probe_adapter() {
  run_cmd info --stdout "$R/info.json" "${WEBPRUNE[@]}" info --json || return 1
  ADAPTER=$("$NODE" -p "const a = require('$R/info.json').adapter; a.description + ' (' + a.vendor + ' / ' + a.architecture + ')'")
  [ $dry -eq 1 ] || ! grep -qiE 'llvmpipe|lavapipe|swiftshader' <<< "$ADAPTER" || return 2
}
# NVIDIA's Vulkan manifest where it exists, for the one retry with only NVIDIA's driver.
nvidia_icd() {
  local f
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}
if begin_stage check $([ $dry -eq 1 ] && echo 120 || echo 180); then
  status=ok
  probe_adapter; probe=$?
  if [ $probe -ne 0 ] && [ $dry -eq 0 ] && [ -z "${VK_DRIVER_FILES:-}" ] && icd=$(nvidia_icd); then
    # Dawn found no GPU, or preferred a CPU driver: once more with NVIDIA's driver alone.
    export VK_DRIVER_FILES=$icd
    log "no GPU adapter; retrying with VK_DRIVER_FILES=$icd"
    echo "vulkan (check's retry): VK_DRIVER_FILES=$icd" >> "$R/env.txt"
    probe_adapter; probe=$?
  fi
  case $probe in
    0) STAGE_NOTE="adapter: $ADAPTER" ;;
    2) STAGE_NOTE="Dawn opened a CPU adapter ($ADAPTER), not the GPU"; status=failed ;;
    *) STAGE_NOTE="webprune info failed: no WebGPU adapter"; status=failed ;;
  esac
  end_stage $status
fi
CHECK_OK=$PREVIOUS_OK
# A failing test is a finding to fix, not a reason to give up the benchmarks and the pretraining
# (each of them checks its own outputs): the stages after this one need only the adapter.
if begin_stage tests $([ $dry -eq 1 ] && echo 120 || echo 180); then
  status=ok
  run_cmd tests --stdout "$R/tests.log" "$NODE" node_modules/mocha/bin/mocha.js --no-config --extension ts --recursive \
    --node-option import=./scripts/ts-register.mjs --node-option enable-source-maps --timeout 120000 --exit \
    --reporter ./scripts/mocha-reporter.cjs --grep @gpu "${TESTS[@]}" || status=failed
  STAGE_NOTE="$(grep -E '^[0-9]+ passed' "$R/tests.log" | tail -1)"
  end_stage $status
fi
PREVIOUS_OK=$CHECK_OK

# ---- bench: kernels and speedup beside PyTorch on the same GPU; peers when packed ----------------
# The peers whose packages are here, comma-separated. ONNX Runtime runs in the dry run only from a
# pack (gpu-pack.sh --check proves its pruned package loads); the suite's dry run (--no-pack) leaves
# it out, as test/bench/peers.test.ts already runs it.
installed_peers() {
  local peers=()
  [ -f node_modules/@tensorflow/tfjs-backend-webgpu/package.json ] && peers+=(tfjs)
  [ -f node_modules/@jax-js/jax/package.json ] && peers+=(jax-js)
  [ -f node_modules/onnxruntime-node/package.json ] && { [ $dry -eq 0 ] || [ -n "$pack" ]; } && peers+=(onnxruntime)
  (IFS=,; echo "${peers[*]}")
}
if begin_stage bench $([ $dry -eq 1 ] && echo 150 || echo 240); then
  status=ok
  if [ $dry -eq 1 ]; then
    K=(--size tiny --repeats 1 --warmup 0) S=(--model tiny --sparsities 0.95 --batch-size 2 --seq-len 16 --repeats 1 --warmup 0 --dtype f32,f16) P=(--size tiny --repeats 1)
  else
    K=(--size base) S=(--model base --dtype f32,f16) P=(--size base)
  fi
  run_cmd "bench kernels" --stdout "$R/kernels.md" "${WEBPRUNE[@]}" bench kernels "${K[@]}" "${TORCH[@]}" --json "$R/kernels.json" || status=failed
  run_cmd "bench speedup" "${WEBPRUNE[@]}" bench speedup "${S[@]}" "${TORCH[@]}" --json "$R/speedup.json" --out "$WORK/speedup" || status=failed
  cp "$WORK"/speedup/speedup.{md,svg} "$R/" 2>/dev/null
  peers=$(installed_peers)
  if [ -n "$peers" ]; then
    # Optional, and capped so that it cannot eat the pretraining's time: a failure does not fail the stage.
    run_cmd "bench peers" --cap 90 --stdout "$R/peers.md" "${WEBPRUNE[@]}" bench peers "${P[@]}" --peers "$peers" --json "$R/peers.json" || STAGE_NOTE="bench peers failed"
  fi
  end_stage $status
fi
PREVIOUS_OK=$CHECK_OK

# ---- pretrain: mini (tiny in the dry run) for the time left, f16 shards -------------------------
if begin_stage pretrain $((DEADLINE - $(now))); then
  status=ok
  reserve=$([ $dry -eq 1 ] && echo 25 || echo 45) # convert, collect, summary
  train_budget=$((STAGE_END - $(now) - reserve))
  if [ $dry -eq 1 ]; then
    [ "$train_budget" -le 40 ] || train_budget=40
    PT=(--config tiny --batch-size 4 --max-seq-length 32 --eval-sequences 8 --calibration-steps 6 --evaluations 3 --log-every 2)
  else
    PT=(--config mini --batch-size 128 --max-seq-length 128 --lr 5e-4 --eval-sequences 512 --calibration-steps 30 --evaluations 10 --log-every 20)
  fi
  if [ "$train_budget" -lt 20 ]; then
    STAGE_NOTE="only ${train_budget} s left for training"; status=failed
  else
    run_cmd pretrain "${GPU[@]}" pretrain --budget "$train_budget" "${PT[@]}" --corpus "$CORPUS" \
      --vocab "$DATA/vocab/bert-base-uncased" --cache-dir "$WORK/token-cache" --out "$WORK/pretrain" || status=failed
    mkdir -p "$R/pretrain"
    cp "$WORK"/pretrain/{metrics.jsonl,summary.json,budget.json,run.json,loss.svg} "$R/pretrain/" 2>/dev/null
  fi
  if [ -f "$WORK/pretrain/model.safetensors" ]; then
    if run_cmd convert "${WEBPRUNE[@]}" convert --model "$WORK/pretrain" --out "$WORK/model-f16" --dtype f16 --max-shard-mb 15; then
      mkdir -p "$R/mini-f16"
      for f in "$WORK"/model-f16/*; do
        case "$f" in *.safetensors) mv "$f" "$out/" ;; *) cp "$f" "$R/mini-f16/" ;; esac
      done
    else
      status=failed
    fi
  fi
  end_stage $status
fi

collect # the skipped stages too
log "done in $(($(now) - START)) s; output in $out: $(cd "$out" && ls | tr '\n' ' ')"
not_ok=$(tail -n +2 "$R/stages.tsv" | cut -f2 | grep -cv '^ok$')
rm -rf "$WORK"
echo
cat "$out/summary.md"
[ "$not_ok" -eq 0 ]
