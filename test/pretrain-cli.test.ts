// The pretrain CLI's second rendering (npm run pretrain -- --second-rendering ATLAS), run for real on
// the tiny architecture: the run uses the atlas and records it (name and hash) in state.json; an
// atlas of another width, or together with --augment > 1, is refused with its reason; --second-one-in
// and the sampler written into config.json (--guidance, --guidance-rescale).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'pretrain-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pretrain = (out: string, extra: string[]) =>
  run(process.execPath, ['--import', './scripts/lib/node-tfjs.mjs', '--import', 'tsx', 'scripts/pretrain.ts', '--out', join(dir, out), '--size', 'tiny', '--limit', '16', '--batch', '4', '--ae-steps', '2', '--unet-steps', '3', '--decoder-steps', '0', '--save-every', '1000', ...extra], { timeout: 120_000 });

function writeAtlas(name: string, width?: number): string {
  const own = PNG.sync.read(readFileSync('public/data/emoji-32.png'));
  const w = width ?? own.width;
  const png = new PNG({ width: w, height: own.height });
  for (let y = 0; y < own.height; y++) {
    for (let x = 0; x < w; x++) {
      const [d, s] = [(y * w + x) * 4, (y * own.width + Math.min(x, own.width - 1)) * 4];
      for (let k = 0; k < 3; k++) png.data[d + k] = 255 - own.data[s + k]!; // a "style": the colours inverted
      png.data[d + 3] = 255;
    }
  }
  const path = join(dir, name);
  writeFileSync(path, PNG.sync.write(png));
  return path;
}

describe('pretrain --second-rendering', () => {
  it('trains on both renderings and records the atlas in state.json', async () => {
    const atlas = writeAtlas('inverted.png');
    const { stdout } = await pretrain('run', ['--second-rendering', atlas]);
    expect(stdout).toMatch(/second rendering: inverted\.png sha256:[0-9a-f]{16}/);
    const state = JSON.parse(readFileSync(join(dir, 'run', 'state.json'), 'utf8'));
    expect(state.phase).toBe('done');
    expect(state.augment).toEqual([{ from: 0, variants: 2, second: expect.stringMatching(/^inverted\.png sha256:[0-9a-f]{16}$/) }]);
  });

  it('draws the twin at one example in K and records K', async () => {
    const atlas = writeAtlas('inverted3.png');
    const { stdout } = await pretrain('run3', ['--second-rendering', atlas, '--second-one-in', '3', '--guidance', '5', '--guidance-rescale', '1']);
    expect(stdout).toMatch(/second rendering: inverted3\.png sha256:[0-9a-f]{16}, one example in 3/);
    const state = JSON.parse(readFileSync(join(dir, 'run3', 'state.json'), 'utf8'));
    expect(state.augment).toEqual([{ from: 0, variants: 3, second: expect.stringMatching(/^inverted3\.png sha256:[0-9a-f]{16}$/) }]);
    // The sampler recorded for the checkpoint (and its EMA, the one that ships).
    for (const f of ['config.json', 'ema/config.json']) expect(JSON.parse(readFileSync(join(dir, 'run3', f), 'utf8')).sampling).toEqual({ steps: 25, guidance: 5, clipX0: 3, guidanceRescale: 1 });
    await expect(pretrain('run1', ['--second-rendering', atlas, '--second-one-in', '1'])).rejects.toThrow(/--second-one-in must be an integer 2\.\.16, not 1/);
    // A sampler setting out of range is refused, not silently ignored.
    await expect(pretrain('g', ['--guidance', '-2'])).rejects.toThrow(/--guidance must be at least 0 \(or -1: keep the run's\), not -2/);
    await expect(pretrain('r', ['--guidance-rescale', '-0.5'])).rejects.toThrow(/--guidance-rescale must be in \[0, 1\]/);
  });

  it('refuses an atlas of another layout, and --augment alongside it', async () => {
    const narrow = writeAtlas('narrow.png', 64);
    await expect(pretrain('narrow', ['--second-rendering', narrow])).rejects.toThrow(/narrow\.png: 64 x 1920 px, the dataset's atlas 2048 x 1920/);
    await expect(pretrain('both', ['--second-rendering', narrow, '--augment', '3'])).rejects.toThrow(/--second-rendering and --augment > 1 exclude each other/);
  });
});
