// Winograd F(4x4, 3x3) against conv_fwd's direct sum on wasm, one process, alternated on/off:
//   (1) each 3x3 conv shape of the UNet (sampling's batch 64, training's 40) and the decoder;
//   (2) generate(): 32 images, DDIM 25 steps with guidance, decode (native-bench workload c);
//   (3) trainDpoRound at the default settings, 16 pairs a step (workload b): the step gaps, and
//       the gaps that hold a held-out + drift check (every second step in a 9-step round).
//   taskset -c 0 node --import ./scripts/lib/node-tfjs.mjs --import tsx bench/winograd.ts [--only convs,sampling,dpo] [--repeats 3]
import * as tf from '@tensorflow/tfjs-core';
import { initNodeBackend } from '../scripts/lib/nodeBackend';
import { loadCheckpointDir } from '../scripts/lib/checkpointFs';
import { setWasmWinograd } from '../src/core/kernels/convSimd';
import { generate } from '../src/core/generate';
import { makeSchedule } from '../src/core/diffusion/schedule';
import { gaussianArray } from '../src/core/model/layers';
import { trainDpoRound } from '../src/core/sail/loop';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';

const argv = process.argv.slice(2);
const arg = (k: string, d: string) => (argv.includes(`--${k}`) ? argv[argv.indexOf(`--${k}`) + 1]! : d);
const only = arg('only', 'convs,sampling,dpo').split(',');
const repeats = Number(arg('repeats', '3'));
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
await initNodeBackend('wasm');
const ck = loadCheckpointDir('public/models/base');

if (only.includes('convs')) {
  console.log('conv [x] x [filter] | direct ms | Winograd ms | speed-up');
  const shapes: [[number, number, number, number], [number, number, number, number]][] = [
    [[64, 8, 8, 96], [3, 3, 96, 48]], [[64, 8, 8, 48], [3, 3, 48, 48]], [[64, 4, 4, 96], [3, 3, 96, 96]], [[64, 4, 4, 192], [3, 3, 192, 96]],
    [[40, 8, 8, 96], [3, 3, 96, 48]], [[40, 4, 4, 96], [3, 3, 96, 96]], [[32, 16, 16, 64], [3, 3, 64, 64]], [[32, 32, 32, 64], [3, 3, 64, 32]],
  ];
  for (const [xs, fs] of shapes) {
    const x = tf.randomNormal(xs) as tf.Tensor4D;
    const f = tf.randomNormal(fs) as tf.Tensor4D;
    const b = tf.randomNormal([fs[3]!]) as tf.Tensor1D;
    const once = () => tf.fused.conv2d({ x, filter: f, strides: 1, pad: 'same', bias: b }).dispose();
    const t: Record<string, number[]> = { on: [], off: [] };
    for (let r = 0; r < 7; r++) {
      for (const on of [false, true]) {
        setWasmWinograd(on);
        const t0 = performance.now();
        for (let k = 0; k < 10; k++) once();
        if (r > 0) t[on ? 'on' : 'off']!.push((performance.now() - t0) / 10);
      }
    }
    console.log(`${JSON.stringify(xs)} x ${JSON.stringify(fs)} | ${median(t.off!).toFixed(2)} | ${median(t.on!).toFixed(2)} | ${(median(t.off!) / median(t.on!)).toFixed(2)}x`);
    tf.dispose([x, f, b]);
  }
}

if (only.includes('sampling')) {
  const run = async () => {
    const t0 = performance.now();
    await generate(ck, { prompt: 'grinning face', count: 32, seed: 1, steps: 25, guidance: ck.config.sampling.guidance });
    return performance.now() - t0;
  };
  await run();
  const t: Record<string, number[]> = { on: [], off: [] };
  for (let r = 0; r < repeats; r++) {
    for (const on of [true, false]) {
      setWasmWinograd(on);
      t[on ? 'on' : 'off']!.push(await run());
    }
  }
  console.log(`sampling 32 images x 25 steps + decode (ms): direct ${t.off!.map((x) => x.toFixed(0)).join(' ')}, Winograd ${t.on!.map((x) => x.toFixed(0)).join(' ')}; medians ${median(t.off!).toFixed(0)} / ${median(t.on!).toFixed(0)} = ${(median(t.off!) / median(t.on!)).toFixed(2)}x`);
}

if (only.includes('dpo')) {
  const schedule = makeSchedule(ck.config.schedule);
  const per = ck.config.latentSize ** 2 * ck.config.autoencoder.latentChannels;
  const words = ['grinning face', 'red apple', 'dog face', 'japan flag', 'thumbs up sign', 'heavy black heart', 'fire', 'ghost'];
  const mk = (n: number, seed: number) => Array.from({ length: n }, (_, i) => ({ prompt: words[i % words.length]!, winner: gaussianArray(per, seed * 1000 + 2 * i), loser: gaussianArray(per, seed * 1000 + 2 * i + 1) }));
  const seedPairs = mk(32, 1);
  const selfPairs = mk(8, 2).map((q) => ({ ...q, margin: 1, winnerImage: new Uint8ClampedArray(0), loserImage: new Uint8ClampedArray(0) }));
  const round = async () => {
    const stamps: number[] = [performance.now()];
    const r = await trainDpoRound({ base: ck, schedule, start: ck.params, reference: ck.params, selfPairs, seedPairs, settings: { ...DEFAULT_SAIL_SETTINGS, stepsPerRound: 9, batchSize: 16, patience: 0 }, round: 0, onStep: () => stamps.push(performance.now()) });
    tf.dispose(Object.values(r.params));
    // Gaps after the first two; checks follow steps 2, 4, 6, 8 (checksPerRound 6 of 9 steps).
    const gaps = stamps.slice(1).map((s, i) => s - stamps[i]!).slice(2);
    return { plain: gaps.filter((_, i) => i % 2 === 1), checked: gaps.filter((_, i) => i % 2 === 0) };
  };
  const t: Record<string, { plain: number[]; checked: number[] }> = { on: { plain: [], checked: [] }, off: { plain: [], checked: [] } };
  for (let r = 0; r < repeats; r++) {
    for (const on of [true, false]) {
      setWasmWinograd(on);
      const g = await round();
      t[on ? 'on' : 'off']!.plain.push(...g.plain);
      t[on ? 'on' : 'off']!.checked.push(...g.checked);
    }
  }
  for (const kind of ['plain', 'checked'] as const) {
    console.log(`DPO step gaps, ${kind === 'plain' ? 'a step alone' : 'a step + a check'} (ms): direct ${median(t.off![kind]).toFixed(0)}, Winograd ${median(t.on![kind]).toFixed(0)} = ${(median(t.off![kind]) / median(t.on![kind])).toFixed(2)}x (medians of ${t.on![kind].length})`);
  }
}
