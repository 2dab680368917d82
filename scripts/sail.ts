// Runs SAIL from a pairs file: round 0 (DPO on the seed pairs), then --rounds self-amplifying
// rounds. Each finished round writes <out>/round-<k>/ with config.json + model.safetensors, its
// self pairs (pairs.zip, the upload format) and record.json. Rerunning the same command resumes
// after the last finished round.
//   npm run sail -- --pairs seed.zip --rounds 3 --out runs/sail
import { availableParallelism } from 'node:os';
import { remoteHelper } from '../src/core/service/helperService';
import { nodeHelperPort } from './lib/helperPort';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePairsBytes, type PairRecord } from '../src/core/data/pairs';
import { compositeOnWhite } from '../src/core/data/image';
import { encodePng } from '../src/core/data/png';
import type { Params } from '../src/core/model/layers';
import { DriftError, runSail, type RoundRecord, type SailEvent, type SailSettings } from '../src/core/sail/loop';
import { encodePairs } from '../src/core/sail/prepare';
import { DEFAULT_SAIL_SETTINGS } from '../src/core/sail/settings';
import { writePairsZip } from '../src/core/data/pairs';
import { anchorSetFor } from '../src/core/sail/anchor';
import { checkPromptManifest, roundPools, studioPrompts } from '../src/core/data/studioPrompts';
import { loadEmojiDataset } from './lib/png';
import { parseArgs } from './lib/args';
import { loadCheckpointDir, saveCheckpointDir } from './lib/checkpointFs';
import { decodeNode } from './lib/decodeNode';
import { initNodeBackend } from './lib/nodeBackend';
import { formatDuration, ProgressBar } from './lib/progress';

const d = DEFAULT_SAIL_SETTINGS;
const spec = {
  pairs: { default: '', help: 'seed pairs: a zip with pairs.jsonl + images, or the JSON variant (required)' },
  model: { default: 'public/models/base', help: 'base checkpoint folder' },
  out: { default: 'runs/sail', help: 'output folder (round-<k>/ per finished round)' },
  data: { default: 'public/data', help: 'dataset folder: its manifest gives the per-round prompt pools' },
  rounds: { default: d.rounds, help: 'self-amplification rounds after round 0' },
  candidates: { default: d.candidatesPerPrompt, help: 'candidates per prompt, N' },
  draws: { default: d.rewardDraws, help: 'implicit-reward draws, K' },
  alpha: { default: d.alpha, help: 'fraction of self pairs per batch (ranked mixup)' },
  beta: { default: d.beta, help: 'DPO beta' },
  lr: { default: d.learningRate, help: 'learning rate' },
  steps: { default: d.stepsPerRound, help: 'DPO steps per round' },
  batch: { default: d.batchSize, help: 'pairs per DPO step' },
  'margin-threshold': { default: d.marginThreshold, help: 'drop self pairs with a smaller reward margin' },
  pairing: { default: d.pairing, help: 'best-worst | random' },
  judge: { default: d.judge, help: 'current | round0' },
  prompts: { default: d.promptsPerRound, help: 'fresh prompts per round' },
  guidance: { default: d.guidance, help: 'classifier-free guidance for candidates' },
  'ddim-steps': { default: d.ddimSteps, help: 'DDIM steps for candidates' },
  seed: { default: d.seed, help: 'run seed' },
  'prior-weight': { default: d.priorWeight, help: 'weight of the denoising loss on real emoji beside the DPO loss (prior preservation)' },
  'positive-weight': { default: d.positiveWeight, help: 'DPO-Positive weight: penalises the winner\'s error rising above the reference\'s' },
  'drift-bound': { default: d.driftBound, help: 'largest rise of the denoising loss on real emoji over the base\'s that a kept round may have' },
  backend: { default: 'wasm', help: 'wasm | cpu' },
  threads: { default: availableParallelism() >= 2 ? 2 : 1, help: 'worker threads: 2 gives a helper thread (another core) half of every DPO step and of the candidates; 1 runs on this thread alone' },
};

async function readPairs(path: string, imageSize: number): Promise<PairRecord[]> {
  const bytes = new Uint8Array(readFileSync(path));
  const parsed = await parsePairsBytes(bytes, path, decodeNode, { imageSize });
  for (const e of parsed.errors) console.warn(`${path}${e.line ? `:${e.line}` : ''}: ${e.reason}`);
  if (parsed.pairs.length === 0) throw new Error(`${path} holds no usable pairs`);
  return parsed.pairs;
}

async function main() {
  const args = parseArgs(process.argv.slice(2), spec, 'npm run sail -- --pairs FILE [options]');
  if (!args.pairs) throw new Error('--pairs FILE is required (a pairs zip, architecture.md section 6)');
  await initNodeBackend(String(args.backend));
  const settings: SailSettings = {
    ...DEFAULT_SAIL_SETTINGS,
    positiveWeight: Number(args['positive-weight']),
    priorWeight: Number(args['prior-weight']),
    driftBound: Number(args['drift-bound']),
    rounds: Number(args.rounds),
    candidatesPerPrompt: Number(args.candidates),
    rewardDraws: Number(args.draws),
    alpha: Number(args.alpha),
    beta: Number(args.beta),
    learningRate: Number(args.lr),
    stepsPerRound: Number(args.steps),
    batchSize: Number(args.batch),
    marginThreshold: Number(args['margin-threshold']),
    pairing: String(args.pairing) as SailSettings['pairing'],
    judge: String(args.judge) as SailSettings['judge'],
    promptsPerRound: Number(args.prompts),
    guidance: Number(args.guidance),
    ddimSteps: Number(args['ddim-steps']),
    seed: Number(args.seed),
  };
  if (!['best-worst', 'random'].includes(settings.pairing)) throw new Error('--pairing must be best-worst or random');
  if (!['current', 'round0'].includes(settings.judge)) throw new Error('--judge must be current or round0');
  const out = String(args.out);
  mkdirSync(out, { recursive: true });
  const base = loadCheckpointDir(String(args.model));
  const records = await readPairs(String(args.pairs), base.config.imageSize);
  const seedPairs = await encodePairs(base, records);
  console.log(`${records.length} pairs read, ${seedPairs.length} with a preference (ties skipped)`);
  const data = loadEmojiDataset(String(args.data));
  const promptPools = roundPools(studioPrompts(checkPromptManifest(data.manifest)).sailPools, settings.rounds);
  const anchor = await anchorSetFor(base, data.manifest, { pixels: data.atlasRGBA, width: data.width, channels: 4 });

  // Resume after the last finished round of the same settings.
  const settingsPath = join(out, 'settings.json');
  if (existsSync(settingsPath) && readFileSync(settingsPath, 'utf8') !== JSON.stringify(settings, null, 1)) {
    throw new Error(`${out} holds a run with other settings (${settingsPath}); use another --out`);
  }
  writeFileSync(settingsPath, JSON.stringify(settings, null, 1));
  let last = -1;
  while (existsSync(join(out, `round-${last + 1}`, 'record.json'))) last++;
  let resumeFrom: { round: number; params: Params; round0Params?: Params } | undefined;
  if (last >= 0) {
    resumeFrom = { round: last, params: loadCheckpointDir(join(out, `round-${last}`)).params };
    if (settings.judge === 'round0') resumeFrom.round0Params = last === 0 ? resumeFrom.params : loadCheckpointDir(join(out, 'round-0')).params;
    console.log(`Resuming after round ${last}`);
  }
  if (last >= settings.rounds) return console.log('All rounds are done.');
  // A later round the drift bound refused ended the run; every draw is seeded, so running it
  // again would be refused again. The run is finished with the round before it.
  const refusedPath = join(out, 'refused.json');
  if (existsSync(refusedPath)) {
    const refused = JSON.parse(readFileSync(refusedPath, 'utf8')) as { round: number; message: string };
    if (refused.round === last + 1) return console.log(`The run ended at round ${last}: ${refused.message}`);
  }

  let bar: ProgressBar | null = null;
  const onEvent = (e: SailEvent) => {
    if (e.type === 'phase') {
      bar = null;
      console.log(`round ${e.round}: ${e.phase}`);
    } else if (e.type === 'progress') {
      bar ??= new ProgressBar(`  ${e.phase}`, e.total, e.done - 1);
      bar.update(e.done);
    } else if (e.type === 'step') {
      bar ??= new ProgressBar('  train', e.total, e.step - 1);
      bar.update(e.step, `loss ${e.loss.toFixed(4)} acc ${e.implicitAccuracy.toFixed(2)} margin ${e.rewardMargin.toFixed(3)}`);
    } else if (e.type === 'check') {
      bar = null;
      console.log(`\n  check at step ${e.step}: held-out accuracy ${e.heldOutAccuracy === null ? 'n/a' : e.heldOutAccuracy.toFixed(2)}, held-out loss ${e.heldOutLoss === null ? 'n/a' : e.heldOutLoss.toFixed(4)}, drift ${(100 * e.drift).toFixed(2)}%`);
    }
  };
  const started = Date.now();
  const records_: RoundRecord[] = [];
  const threads = Number(args.threads);
  if (threads !== 1 && threads !== 2) throw new Error(`--threads is 1 or 2, not ${args.threads}`);
  const helper = threads === 2 ? remoteHelper(nodeHelperPort, base) : undefined;
  const finished = await runSail({
    base,
    seedPairs,
    promptPools,
    anchor,
    settings,
    resumeFrom,
    helper,
    onEvent,
    onRoundDone: async ({ round, params, record, selfPairs }) => {
      const dir = join(out, `round-${round}`);
      const config = { ...base.config, provenance: { ...base.config.provenance, sail: { round, settings, command: `npm run sail -- ${process.argv.slice(2).join(' ')}` } } };
      await saveCheckpointDir(dir, { config, params });
      const size = base.config.imageSize;
      const pairs: PairRecord[] = selfPairs.map((p) => ({ caption: p.prompt, image0: { width: size, height: size, data: compositeOnWhite(p.winnerImage) }, image1: { width: size, height: size, data: compositeOnWhite(p.loserImage) }, label0: 1, source: 'self' }));
      writeFileSync(join(dir, 'pairs.zip'), writePairsZip(pairs, encodePng));
      writeFileSync(join(dir, 'record.json'), JSON.stringify(record, null, 1));
      records_.push(record);
      const t = record.timing;
      console.log(`round ${round} done: implicit accuracy ${record.implicitAccuracy.toFixed(3)}, ${record.selfPairs.length} self pairs (${record.droppedPairs} dropped), kept step ${record.kept?.step} (drift ${(100 * (record.kept?.drift ?? 0)).toFixed(2)}%${record.stoppedEarly ? `; stopped early: ${record.stoppedEarly}` : ''}), generate ${formatDuration(t.generateMs / 1000)}, score ${formatDuration(t.scoreMs / 1000)}, train ${formatDuration(t.trainMs / 1000)}`);
    },
  }).then(
    () => null,
    (e: unknown) => {
      // A later round refused by the drift bound ends the run with the round before it (as in the studio).
      if (e instanceof DriftError && e.round > 0) {
        writeFileSync(refusedPath, JSON.stringify({ round: e.round, message: e.message }, null, 1));
        return e.message;
      }
      throw e;
    },
  );
  helper?.close();
  if (finished) console.log(finished);
  console.log(`SAIL finished in ${formatDuration((Date.now() - started) / 1000)}; rounds in ${out}`);
}

main().catch((e) => {
  console.error(`sail failed: ${(e as Error).message}`);
  process.exit(1);
});
