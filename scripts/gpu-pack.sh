#!/usr/bin/env bash
# Prepares, on a CPU machine with network, what the GPU program (scripts/gpu-run.sh) needs on a GPU
# machine that has no network and may lack Node and the Vulkan loader. Everything goes into one
# git-ignored folder, .gpu-pack/, that travels with the working tree (the device tool's `carry`):
#
#   node.xz               the Node binary that runs here (stripped, xz): the machine may have none
#   node_modules.tar.xz   node_modules without what the run never loads: TypeScript and @types (tsc
#                         runs here, not there), other platforms' Dawn binaries (win32, darwin,
#                         linux-arm64: 70 MiB) and ONNX Runtime libraries (all but linux-x64: 240
#                         MiB), protobufjs's CLI, source maps, .d.ts and .md files, and of
#                         TensorFlow.js all but the CommonJS bundles Node loads. Kept: Dawn's
#                         linux-x64 dawn.node, esbuild (the tests and the CLI run from the
#                         TypeScript sources through scripts/ts-register.mjs), mocha and chai, the
#                         runtime dependencies, and the benchmark peers when installed: tfjs,
#                         jax-js, and onnxruntime-node's linux-x64 library (its WebGPU execution
#                         provider; 12 MiB compressed, left out with --no-ort)
#   gl/*.deb              the Vulkan loader and the GL vendor-neutral libraries NVIDIA's Vulkan driver
#                         needs (libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
#   data/                 a slice of the data root: the bert-base-uncased vocabulary, GLUE MRPC (the
#                         compaction test's real batches), the held-out valid.txt.gz, and the corpus
#                         shards for pretraining in the room left under --max-mib (whole while they
#                         fit; the first that does not is cut to its first lines, as
#                         train-NAME-head.txt.gz)
#   pack.json             what is in the pack: versions, sizes, sha256, the corpus cut, and the sha256
#                         of package-lock.json (gpu-run.sh warns when the tree's lock no longer matches)
#
# No dist/: gpu-run.sh runs the CLI from the tree's TypeScript sources, so a pack made at an older
# commit can never run an older bundle. What travels is the working tree plus this folder, 64 MiB in
# all (the device tool's limit): the corpus fills the pack up to --max-mib (default 60, a margin for
# the tree to grow). Sizes measured on 2026-11 (Node v20.20.2, webgpu 0.6.2): node.xz 21 MiB,
# node_modules 26 MiB with ONNX Runtime (13 without), debs 0.4 MiB, vocabulary + MRPC + valid 2.7
# MiB, the tree 2.6 MiB; the corpus gets the rest (about 7 MiB with ONNX Runtime, 20 without).
#
# The device tool sends the checkout its session was started in (not a helper's worktree): make the
# pack in that checkout.
#
# Usage: bash scripts/gpu-pack.sh [--node PATH] [--data DIR] [--corpus-shards "A B"] [--max-mib N]
#                                 [--no-debs] [--no-ort] [--check]
#   --node PATH        Node binary to pack (default: the node on PATH; v20.6 or later, x86-64)
#   --data DIR         data root (default $WEBPRUNE_DATA, else ../shared/data)
#   --corpus-shards    corpus files to carry for pretraining, in order, as room allows (default
#                      "train-wiki-00.txt.gz train-wiki-01.txt.gz")
#   --max-mib N        tree + pack at most N MiB (default 60)
#   --no-debs          skip downloading the Vulkan loader .debs (keeps gl/ if present)
#   --no-ort           leave ONNX Runtime out (its peer row goes; the corpus gets 12 MiB more)
#   --check            then rehearse: copy the tracked tree and the pack to a temporary folder, as the
#                      device tool does, and run `gpu-run.sh --dry-run` there on lavapipe, from the
#                      pack's Node and node_modules (about 2 minutes)
# Run it as root or with apt-get download rights for the .debs (no root needed for apt-get download).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

node_bin=$(command -v node || true)
data=${WEBPRUNE_DATA:-$ROOT/../shared/data}
shards="train-wiki-00.txt.gz train-wiki-01.txt.gz"
max_mib=60
debs=1
check=0
ort=1
while [ $# -gt 0 ]; do
  case "$1" in
    --node) node_bin=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --corpus-shards) shards=$2; shift 2 ;;
    --max-mib) max_mib=$2; shift 2 ;;
    --no-debs) debs=0; shift ;;
    --no-ort) ort=0; shift ;;
    --check) check=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-pack.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "gpu-pack.sh: $*" >&2; exit 1; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
size_of() { du -sb "$1" | cut -f1; }

PACK=$ROOT/.gpu-pack
git check-ignore -q "$PACK/" || die ".gpu-pack/ is not git-ignored (add /.gpu-pack/ to .gitignore): it must travel as a carried path, not as part of the tree"
[ -n "$node_bin" ] && [ -x "$node_bin" ] || die "no Node binary (give --node PATH)"
[ "$(uname -m)" = x86_64 ] || die "the GPU machine is x86-64; pack on an x86-64 machine (this is $(uname -m))"
node_version=$("$node_bin" -p 'process.versions.node')
"$node_bin" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 6) ? 0 : 1)' ||
  die "$node_bin is Node $node_version; webprune needs 20.6 or later"
[ -d node_modules/webgpu ] && [ -f node_modules/esbuild/package.json ] && [ -f node_modules/mocha/package.json ] ||
  die "node_modules is incomplete: run npm ci first"
[ -f node_modules/webgpu/dist/linux-x64/dawn.node ] || die "node_modules/webgpu has no linux-x64 dawn.node"
[ -d node_modules/@esbuild/linux-x64 ] || die "node_modules has no @esbuild/linux-x64 (npm ci on an x86-64 Linux machine)"
[ -f "$data/vocab/bert-base-uncased/vocab.txt" ] || die "no vocabulary at $data/vocab/bert-base-uncased (give --data DIR)"

mkdir -p "$PACK"
staging=$(mktemp -d "${TMPDIR:-/tmp}/webprune-pack.XXXXXX")
trap 'rm -rf "$staging"' EXIT

# Node: stripped (debug info is half the binary) and xz-compressed. Reused when the binary is unchanged.
node_sha=$(sha256sum "$node_bin" | cut -d' ' -f1)
if [ -f "$PACK/node.xz" ] && [ -f "$PACK/node.source" ] && [ "$(cat "$PACK/node.source")" = "$node_sha" ]; then
  echo "node.xz: up to date (Node $node_version)"
else
  echo "node.xz: Node $node_version from $node_bin (xz -9, about a minute)"
  cp "$node_bin" "$staging/node"
  strip "$staging/node" 2>/dev/null || echo "  (strip not found: packing the unstripped binary)"
  xz -9 -T0 -c "$staging/node" > "$PACK/node.xz.tmp"
  mv "$PACK/node.xz.tmp" "$PACK/node.xz"
  echo "$node_sha" > "$PACK/node.source"
  rm -f "$staging/node"
fi

# node_modules without what the GPU run never loads (the list is made here, then tarred).
echo "node_modules.tar.xz: pruning and compressing"
find node_modules -path node_modules/.cache -prune -o \( -type f -o -type l \) -print | awk -v ort=$ort '
  /\.(map|md)$/ || /\.d\.[mc]?ts$/ { next }                                  # source maps, type declarations, docs
  /^node_modules\/(typescript|@typescript|@types|@webgpu\/types)\// { next }  # tsc runs here, not there
  # onnxruntime-node (bench peers: BERT inference): only the linux-x64 library, 45 MiB of 288; none with --no-ort
  /^node_modules\/onnxruntime-node\// && (!ort || /^node_modules\/onnxruntime-node\/bin\// && !/\/bin\/napi-v6\/linux\/x64\//) { next }
  /^node_modules\/protobufjs\/cli\// { next }                                 # pbjs/pbts, 20 MiB; only the library loads
  /^node_modules\/\.package-lock\.json$/ { next }
  /^node_modules\/webgpu\/dist\// && !/^node_modules\/webgpu\/dist\/linux-x64\// { next }
  # tfjs (bench peers): Node loads only each package'"'"'s CommonJS bundle (its "main")
  /^node_modules\/@tensorflow\/[^\/]+\// && !/^node_modules\/@tensorflow\/[^\/]+\/node_modules\// &&
    !/^node_modules\/@tensorflow\/[^\/]+\/(package\.json|dist\/tf[a-z-]*\.node\.js)$/ { next }
  { print }' > "$staging/node_modules.list"
tar -C "$ROOT" -cf - -T "$staging/node_modules.list" | xz -6 -T0 > "$PACK/node_modules.tar.xz.tmp"
mv "$PACK/node_modules.tar.xz.tmp" "$PACK/node_modules.tar.xz"

# The Vulkan loader and the GL vendor-neutral libraries, as the device README's recipe downloads them.
if [ "$debs" -eq 1 ]; then
  echo "gl/: downloading the Vulkan loader .debs (amd64)"
  lists=$(mktemp -d "${TMPDIR:-/tmp}/webprune-apt.XXXXXX")
  mkdir -p "$lists/partial"
  o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
  apt-get $o update -qq >/dev/null || die "apt-get update failed (network to the Debian archive?)"
  rm -rf "$staging/gl" && mkdir -p "$staging/gl"
  (cd "$staging/gl" && apt-get $o download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 2>&1 | grep -v 'unsandboxed' || true)
  ls "$staging"/gl/libvulkan1_*.deb >/dev/null 2>&1 || die "apt-get download did not fetch libvulkan1"
  rm -rf "$PACK/gl" && mv "$staging/gl" "$PACK/gl"
  rm -rf "$lists"
elif [ ! -d "$PACK/gl" ]; then
  echo "gl/: skipped (--no-debs); the GPU machine must have libvulkan.so.1"
fi

# The data slice, laid out like the data root (WEBPRUNE_DATA points at it on the GPU machine).
echo "data/: vocabulary, MRPC, valid.txt.gz and the corpus ($shards) from $data"
rm -rf "$PACK/data"
mkdir -p "$PACK/data/vocab" "$PACK/data/glue/MRPC" "$PACK/data/corpus"
cp -r "$data/vocab/bert-base-uncased" "$PACK/data/vocab/"
for f in train.tsv dev.tsv LICENSE.htm; do [ -f "$data/glue/MRPC/$f" ] && cp "$data/glue/MRPC/$f" "$PACK/data/glue/MRPC/"; done
for s in valid.txt.gz SOURCES.md; do
  [ -f "$data/corpus/$s" ] || die "no corpus file $data/corpus/$s"
  cp "$data/corpus/$s" "$PACK/data/corpus/"
done

# The corpus shards take the room left under --max-mib: whole while they fit; the first that does not
# is cut to its first lines (train-NAME-head.txt.gz, re-gzipped) so that the pack still fits.
tree_bytes=$(git ls-files -co --exclude-standard -z | xargs -0 -r stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
room=$((max_mib * 1048576 - tree_bytes - $(size_of "$PACK") - 65536)) # 64 KiB for pack.json
cut_note=""
for s in $shards; do
  [ -f "$data/corpus/$s" ] || die "no corpus file $data/corpus/$s"
  bytes=$(size_of "$data/corpus/$s")
  if [ "$bytes" -le "$room" ]; then
    cp "$data/corpus/$s" "$PACK/data/corpus/"
    room=$((room - bytes))
    continue
  fi
  [ "$room" -ge 1048576 ] || { echo "  $s: left out (no room under --max-mib $max_mib)"; continue; }
  # Lines in proportion to the room, then 10% fewer until the gzip fits.
  lines=$(gzip -dc "$data/corpus/$s" | wc -l)
  keep=$((lines * (room / 1024) / (bytes / 1024)))
  head_name=${s%.txt.gz}-head.txt.gz
  while :; do
    { gzip -dc "$data/corpus/$s" | head -n "$keep" | gzip -9 > "$staging/$head_name"; } 2>/dev/null || true
    [ "$(size_of "$staging/$head_name")" -le "$room" ] && break
    keep=$((keep * 9 / 10))
  done
  mv "$staging/$head_name" "$PACK/data/corpus/"
  cut_note="$s cut to its first $keep of $lines lines ($head_name)"
  echo "  $cut_note"
  room=0
done
compgen -G "$PACK/data/corpus/train-*.txt.gz" >/dev/null || die "no corpus shard fits under --max-mib $max_mib"
chmod -R u+w "$PACK/data"

# The manifest.
peer_packages="@tensorflow/tfjs-backend-webgpu @jax-js/jax$([ $ort -eq 1 ] && echo ' onnxruntime-node')"
peers=$(for p in $peer_packages; do [ -f "node_modules/$p/package.json" ] && printf '%s@%s ' "$p" "$("$node_bin" -p "require('./node_modules/$p/package.json').version")"; done; true)
"$node_bin" - "$PACK" "$node_version" "$(git rev-parse HEAD)" "$peers" "$cut_note" <<'EOF'
const fs = require('node:fs'), path = require('node:path'), crypto = require('node:crypto');
const [pack, nodeVersion, commit, peers, corpusCut] = process.argv.slice(2);
const sha = (f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const files = [];
const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) { const p = path.join(d, e.name); if (e.isDirectory()) walk(p); else if (e.name !== 'pack.json') files.push(p); } };
walk(pack);
const manifest = {
  created: new Date().toISOString(),
  commit,
  node: nodeVersion,
  webgpu: require(path.resolve('node_modules/webgpu/package.json')).version,
  peers: peers.trim() ? peers.trim().split(' ') : [],
  corpus_cut: corpusCut || null,
  package_lock_sha256: sha('package-lock.json'),
  files: files.sort().map((f) => ({ path: path.relative(pack, f), bytes: fs.statSync(f).size, sha256: sha(f) })),
};
fs.writeFileSync(path.join(pack, 'pack.json'), JSON.stringify(manifest, null, 1) + '\n');
EOF

# What travels: the tree (tracked and untracked files git does not ignore) plus the pack.
tree_bytes=$(git ls-files -co --exclude-standard -z | xargs -0 -r stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
pack_bytes=$(size_of "$PACK")
total=$((tree_bytes + pack_bytes))
echo
echo "pack: $PACK"
for f in node.xz node_modules.tar.xz gl data; do [ -e "$PACK/$f" ] && printf '  %-22s %6s MiB\n' "$f" "$(mib "$(size_of "$PACK/$f")")"; done
printf '  %-22s %6s MiB\n' "working tree" "$(mib "$tree_bytes")" "total" "$(mib "$total")"
[ -n "$peers" ] && echo "  benchmark peers packed: $peers"
limit=$((max_mib * 1048576))
[ "$total" -le "$limit" ] || die "tree + pack is $(mib "$total") MiB, over --max-mib $max_mib (the device tool carries at most 64 MiB): carry fewer corpus shards"
echo "fits: $(mib "$total") of 64 MiB (margin to --max-mib $max_mib: $(mib $((limit - total))) MiB)"
echo 'the device call (run, from the session whose checkout this is; then give_back):'
echo '  {"command": "bash scripts/gpu-run.sh --out \"$OUT\"", "carry": [".gpu-pack"], "timeout_s": 600}'
if [ "$(git rev-parse --git-common-dir)" != "$(git rev-parse --git-dir)" ]; then
  echo "NOTE: $ROOT is a linked worktree; the device tool sends the checkout its session was started in, so make the pack there unless this is it"
fi

if [ "$check" -eq 1 ]; then
  echo
  echo "--check: rehearsing the GPU program on lavapipe from a copy of the tree and the pack"
  rehearsal=$(mktemp -d "${TMPDIR:-/tmp}/webprune-rehearsal.XXXXXX")
  git ls-files -co --exclude-standard -z | tar -C "$ROOT" --null -T - -cf - | tar -C "$rehearsal" -xf -
  cp -r "$PACK" "$rehearsal/.gpu-pack"
  # Only the pack's Node may run: the rehearsal fails if gpu-run.sh falls back to the system's.
  if (cd "$rehearsal" && WEBPRUNE_GPU_RUN_REQUIRE_PACK=1 bash scripts/gpu-run.sh --dry-run --out "$rehearsal/out"); then
    echo "--check: the rehearsal passed ($rehearsal/out)"
  else
    die "--check: the rehearsal failed; see $rehearsal/out/run.log"
  fi
fi
