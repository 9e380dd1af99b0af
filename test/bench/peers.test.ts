import { expect } from 'chai';
import { MASK_MIN } from '../../models/bert.ts';
import { type PeersReport, measureRow, peerProblems, peersTable, runPeersBench } from '../../bench/peers.ts';
import { LAYER_PARAMS, type Problem, checkOutputs, outputNames, paddingMask, problemFlops, problemInputs } from '../../bench/peers/problems.ts';
import { PEER_NAMES, type PeerEngine, type Runner } from '../../bench/peers/runner.ts';
import { freshSeed } from '../helpers.ts';
import { useBenchTestEngine } from './helpers.ts';

/** y = x·Wᵀ + b in float64, rounded to f32. */
function gemmReference(inputs: ReturnType<typeof problemInputs>, T: number, N: number, K: number): Float32Array {
  const { x, w, b } = inputs as unknown as Record<'x' | 'w' | 'b', { data: Float32Array }>;
  const y = new Float32Array(T * N);
  for (let i = 0; i < T; i++) for (let j = 0; j < N; j++) {
    let s = b.data[j]!;
    for (let k = 0; k < K; k++) s += x.data[i * K + k]! * w.data[j * K + k]!;
    y[i * N + j] = s;
  }
  return y;
}

describe('bench peers: problems and checks', () => {
  it('draws the same inputs for the same seed, with padding masks keeping [S/2, S] tokens', () => {
    const seed = freshSeed();
    const p: Problem = { kind: 'layer', B: 3, S: 7, H: 12, heads: 3, I: 33 };
    const a = problemInputs(p, seed);
    const b = problemInputs(p, seed);
    expect(Object.keys(a).sort()).to.deep.equal(['dy', 'mask', 'x', ...LAYER_PARAMS].sort());
    for (const k of Object.keys(a)) expect([...a[k]!.data], `${k} seed=${seed}`).to.deep.equal([...b[k]!.data]);
    expect(a['ffn_in.weight']!.shape).to.deep.equal([33, 12]);
    const mask = paddingMask(5, 9, seed).data;
    for (let r = 0; r < 5; r++) {
      const kept = [...mask.slice(r * 9, r * 9 + 9)].filter((v) => v === 0).length;
      expect(kept, `seed=${seed}`).to.be.within(5, 9);
      expect([...mask.slice(r * 9 + kept, r * 9 + 9)].every((v) => v === MASK_MIN)).to.equal(true);
    }
  });

  it('passes a GEMM within the rounding bound and fails one element off by 1e-3, or NaN', () => {
    const seed = freshSeed();
    const p = { kind: 'gemm', label: 't', T: 7, N: 33, K: 129 } as const;
    const inputs = problemInputs(p, seed);
    const ref = gemmReference(inputs, 7, 33, 129);
    const near = ref.map((v) => v * (1 + 2 ** -22));
    expect(checkOutputs(p, inputs, [ref], [near]).ok, `seed=${seed}`).to.equal(true);
    const off = Float32Array.from(ref);
    off[40]! += 1e-3;
    const bad = checkOutputs(p, inputs, [ref], [off]);
    expect(bad.ok, `seed=${seed}`).to.equal(false);
    expect(bad.value).to.be.greaterThan(1);
    const nan = Float32Array.from(ref);
    nan[3] = Number.NaN;
    expect(checkOutputs(p, inputs, [ref], [nan]).ok).to.equal(false);
    expect(() => checkOutputs(p, inputs, [ref], [])).to.throw(/expected 1 outputs/);
    expect(() => checkOutputs(p, inputs, [ref], [ref.subarray(1)])).to.throw(/has 230 values/);
  });

  it('judges attention by the scale of V and the layer per output, d key.bias by d query.bias', () => {
    const att = { kind: 'attention', B: 2, S: 7, heads: 3, d: 8 } as const;
    const inputs = problemInputs(att, 1);
    const y = Float32Array.from({ length: 2 * 7 * 24 }, (_, i) => Math.sin(i));
    expect(checkOutputs(att, inputs, [y], [y.map((v) => v + 1e-6)]).ok).to.equal(true);
    expect(checkOutputs(att, inputs, [y], [y.map((v, i) => (i === 5 ? v + 1e-2 : v))]).ok).to.equal(false);

    const layer = { kind: 'layer', B: 1, S: 3, H: 4, heads: 2, I: 5 } as const;
    const names = outputNames(layer);
    const ours = names.map((_, t) => Float32Array.from({ length: 12 }, (_, i) => Math.cos(i + t)));
    const keyBias = names.indexOf('d key.bias');
    ours[keyBias] = new Float32Array(12).fill(1e-9); // exactly 0 up to rounding
    const theirs = ours.map((a) => Float32Array.from(a));
    theirs[keyBias] = new Float32Array(12).fill(-2e-9);
    expect(checkOutputs(layer, {}, ours, theirs).ok).to.equal(true);
    theirs[keyBias] = new Float32Array(12).fill(0.5);
    const bad = checkOutputs(layer, {}, ours, theirs);
    expect(bad.ok).to.equal(false);
    expect(bad.worst).to.equal('d key.bias');
  });

  it('counts FLOPs: 2TNK per GEMM, 4BhS²d per attention, 3× the forward for a layer', () => {
    expect(problemFlops({ kind: 'gemm', label: '', T: 7, N: 5, K: 3 })).to.equal(210);
    expect(problemFlops({ kind: 'attention', B: 2, S: 3, heads: 4, d: 5 })).to.equal(4 * 2 * 4 * 9 * 5);
    const H = 8, I = 16, T = 6;
    expect(problemFlops({ kind: 'layer', B: 2, S: 3, H, heads: 2, I })).to.equal(3 * (2 * T * H * (4 * H + 2 * I) + 4 * 2 * 9 * H));
    expect(peerProblems('base').map((p) => p.kind)).to.deep.equal(['gemm', 'gemm', 'gemm', 'attention', 'layer', 'bert']);
  });
});

describe('bench peers: on the adapter @gpu', function () {
  this.timeout(300000);
  before(useBenchTestEngine);

  const problems: Problem[] = [
    { kind: 'gemm', label: 'awkward', T: 7, N: 33, K: 9 },
    { kind: 'attention', B: 2, S: 7, heads: 3, d: 8 },
    { kind: 'layer', B: 2, S: 7, H: 12, heads: 3, I: 33 },
    { kind: 'bert', model: 'tiny', B: 2, S: 7 },
  ];

  it('times every installed peer against ours after checking its outputs, and names the missing ones', async () => {
    const seed = freshSeed();
    const report: PeersReport = await runPeersBench({ size: 'tiny', problems, warmup: 0, repeats: 1, seed });
    expect(report.peers.map((p) => p.name)).to.deep.equal([...PEER_NAMES]);
    // A problem runs when some loaded peer is benchmarked on it: ONNX Runtime on BERT inference, the others on the rest.
    const ok = report.peers.filter((p) => p.status === 'ok').map((p) => p.name);
    const covered = (kind: string) => (kind === 'bert' ? ok.includes('onnxruntime') : ok.some((n) => n !== 'onnxruntime'));
    expect(report.rows.map((r) => r.kind)).to.deep.equal(problems.map((p) => p.kind).filter(covered));
    for (const r of report.rows) {
      expect(r.ours_ms.median, r.name).to.be.greaterThan(0);
      for (const peer of report.peers) {
        const res = r.peers[peer.name];
        if (peer.status !== 'ok') {
          expect(res, `${peer.name} ${peer.status}`).to.equal(undefined);
          expect(peer.note, peer.name).to.be.a('string');
          continue;
        }
        // ONNX Runtime runs BERT inference only, tfjs and jax-js everything else.
        if ((peer.name === 'onnxruntime') !== (r.kind === 'bert')) {
          expect(res?.status, `${r.name} ${peer.name}`).to.equal('n/a');
          continue;
        }
        expect(res?.status, `${r.name} ${peer.name}: ${res?.note} seed=${seed}`).to.equal('ok');
        expect(res!.check!.value).to.be.at.most(res!.check!.limit);
        expect(res!.ours_over_peer).to.be.closeTo(r.ours_ms.median / res!.ms!.median, 1e-9);
      }
    }
    const table = peersTable(report);
    expect(table.split('\n')[0]).to.match(/^\| row \| shape \| ours ms \|/);
    expect(table).to.include('GEMM awkward');
  });

  it('reports a peer whose outputs differ as a mismatch and does not time it', async () => {
    const seed = freshSeed();
    let timedRuns = 0;
    const wrong: PeerEngine = {
      name: 'tfjs',
      version: 'test',
      kinds: ['gemm'],
      async prepare(p, inputs) {
        const runner: Runner = {
          run: async () => void timedRuns++,
          outputs: async () => [gemmReference(inputs, 7, 33, 9).map((v, i) => (i === 11 ? v + 0.5 : v))],
          dispose: () => {},
        };
        return p.kind === 'gemm' ? runner : null;
      },
      dispose: () => {},
    };
    const [gemm, attention] = [problems[0]!, problems[1]!];
    const row = await measureRow(gemm, [wrong], 0, 2, seed);
    expect(row.peers['tfjs']!.status, `seed=${seed}`).to.equal('mismatch');
    expect(row.peers['tfjs']!.note).to.match(/> 1 \(y\)/);
    expect(timedRuns).to.equal(0);
    expect((await measureRow(attention, [wrong], 0, 1, seed)).peers['tfjs']!.status).to.equal('n/a');
  });
});
