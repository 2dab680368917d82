// How accurate the model's own implicit reward is per timestep bucket, on the shipped model
// (issue 10: draw the reward's timesteps only where it is accurate). As the studio's evaluation
// does for one repeat: the simulated clicker labels 16 + 240 pairs of the base's own samples for
// an oracle; round 0 trains at the studio defaults on the first 16; then the round-0 model's
// reward against the base (the judge of round 1) ranks the other 240 pairs, with its draws held to
// one bucket at a time, and is scored against the oracle's own preference (not the clicker's
// noisy click). Prints a markdown table.
//   npm run reward-timesteps -- --oracle warm [--pairs 240] [--draws 4] [--repeat 0]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { makeSchedule } from '../src/core/diffusion/schedule';
import { decodedBytes, simulateSeedPairs } from '../src/core/eval/arms';
import { parseClassifier } from '../src/core/eval/classifier';
import { makeOracle } from '../src/core/eval/oracles';
import { evalPromptSets, shuffledFor } from '../src/core/eval/prompts';
import { DEFAULT_EVAL_SETTINGS, type EvalSettings } from '../src/core/eval/summary';
import { disposeParams } from '../src/core/model/layers';
import { textStates } from '../src/core/model/ldm';
import { hashSeed } from '../src/core/random';
import { wilsonInterval } from '../src/core/stats';
import { anchorSetFor } from '../src/core/sail/anchor';
import { trainDpoRound } from '../src/core/sail/loop';
import { rewardAccuracyByTimestep } from '../src/core/sail/reward';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';
import { parseArgs } from './lib/args';
import { loadCheckpointDir } from './lib/checkpointFs';
import { initNodeBackend } from './lib/nodeBackend';
import { loadEmojiDataset } from './lib/png';

const spec = {
  model: { default: 'public/models/base', help: 'the base checkpoint' },
  classifier: { default: 'public/models/classifier', help: 'the evaluation classifier (for the prompt splits)' },
  data: { default: 'public/data', help: 'dataset folder' },
  oracle: { default: 'warm', help: 'taste oracle of the simulated clicker' },
  pairs: { default: 240, help: 'held-out labelled pairs the reward is scored on' },
  draws: { default: 4, help: '(t, noise) draws per pair and bucket' },
  buckets: { default: 5, help: 'equal timestep buckets over [0, T)' },
  repeat: { default: 0, help: 'which repeat of the evaluation (its seed) to mirror' },
  backend: { default: 'wasm', help: 'wasm | cpu' },
};

async function main() {
  const args = parseArgs(process.argv.slice(2), spec, 'npm run reward-timesteps -- [options]');
  await initNodeBackend(String(args.backend));
  const base = loadCheckpointDir(String(args.model));
  const cdir = String(args.classifier);
  const classifier = parseClassifier(readFileSync(join(cdir, 'config.json'), 'utf8'), readFileSync(join(cdir, 'model.safetensors')));
  const data = loadEmojiDataset(String(args.data));
  const prompts = evalPromptSets(data.manifest, classifier.categories);
  const anchor = await anchorSetFor(base, data.manifest, { pixels: data.atlasRGBA, width: data.width, channels: 4 });
  const oracle = makeOracle(String(args.oracle), { classifier });
  const s: EvalSettings = { ...DEFAULT_EVAL_SETTINGS, oracle: String(args.oracle), seedPairs: 16, ddimSteps: DEFAULT_SAIL_SETTINGS.ddimSteps, guidance: DEFAULT_SAIL_SETTINGS.guidance };
  const seed = hashSeed(s.seed, Number(args.repeat));
  const n = s.seedPairs;
  const count = n + Number(args.pairs);
  const t0 = Date.now();
  const { pairs, stats } = await simulateSeedPairs(base, shuffledFor(prompts.seed, seed, 1), oracle, s, count, seed);
  const schedule = makeSchedule(base.config.schedule);
  const round0 = await trainDpoRound({ base, schedule, start: base.params, reference: base.params, selfPairs: [], seedPairs: pairs.slice(0, n), settings: { ...DEFAULT_SAIL_SETTINGS, seed }, round: 0, anchor });

  // The oracle's own preference on each held-out pair (the clicker flips and skips; this does not).
  const held = pairs.slice(n);
  const s32 = base.config.imageSize;
  const shape = [base.config.latentSize, base.config.latentSize, base.config.autoencoder.latentChannels] as const;
  const bytesOf = async (latents: Float32Array[]) => {
    const z = tf.tensor4d(Float32Array.from(latents.flatMap((l) => Array.from(l))), [latents.length, ...shape]);
    return decodedBytes(base, z).finally(() => z.dispose());
  };
  const rw = await oracle.score(await bytesOf(held.map((p) => p.winner)), held.map((p) => p.prompt), s32);
  const rl = await oracle.score(await bytesOf(held.map((p) => p.loser)), held.map((p) => p.prompt), s32);
  const truly = held.map((p, i) => (rw[i] >= rl[i] ? p : { prompt: p.prompt, winner: p.loser, loser: p.winner }));
  const clickerRight = held.filter((_, i) => rw[i] >= rl[i]).length / held.length;

  const T = base.config.schedule.trainSteps;
  const k = Number(args.buckets);
  const buckets = Array.from({ length: k }, (_, i) => [Math.round((i * T) / k), Math.round(((i + 1) * T) / k) - 1] as [number, number]);
  const judged = truly.map((p) => ({ winner: p.winner, loser: p.loser, text: textStates(base, [p.prompt]) }));
  const acc = await rewardAccuracyByTimestep(round0.params, base.params, base.config, schedule, judged, { beta: DEFAULT_SAIL_SETTINGS.beta, buckets, draws: Number(args.draws), seed: hashSeed(seed, 95) });
  const all = await rewardAccuracyByTimestep(round0.params, base.params, base.config, schedule, judged, { beta: DEFAULT_SAIL_SETTINGS.beta, buckets: [[0, T - 1], [0, 599]], draws: Number(args.draws) * 2, seed: hashSeed(seed, 96) });
  judged.forEach((p) => tf.dispose([p.text.tokens, p.text.mask, p.text.pooled]));
  disposeParams(round0.params);

  const wilson = (p: number, m: number) => {
    const w = wilsonInterval(p * m, m);
    return `[${(100 * w.low).toFixed(1)}, ${(100 * w.high).toFixed(1)}]`;
  };
  const row = (b: { timesteps: [number, number]; accuracy: number; pairs: number }) => `| ${b.timesteps[0]}-${b.timesteps[1]} | ${(100 * b.accuracy).toFixed(1)}% ${wilson(b.accuracy, b.pairs)} |`;
  console.log(`\nOracle \`${s.oracle}\`, repeat ${Number(args.repeat) + 1}: round 0 at the studio defaults on ${n} clicker pairs (the clicker agreed with the oracle on ${(100 * stats.agreement).toFixed(1)}% of all ${count}; on the ${held.length} held out, ${(100 * clickerRight).toFixed(1)}%); its reward against the base on the ${held.length} held-out pairs, scored against the oracle, ${Number(args.draws)} draws per pair and bucket (${Math.round((Date.now() - t0) / 1000)} s):\n`);
  console.log('| timesteps | reward accuracy [95% Wilson] |\n|---|---|');
  for (const b of acc) console.log(row(b));
  for (const b of all) console.log(row(b).replace('|', '| all draws in'));
  disposeParams(classifier.params);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
