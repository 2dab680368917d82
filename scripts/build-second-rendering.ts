// The dataset's records drawn in a second style, as an atlas of the same layout as
// public/data/emoji-32.png, for `npm run pretrain -- --second-rendering` (docs/base-model.md): every
// emoji then has two real images. The source is another emoji-datasource package at the same
// version, fetched by hand (it is not a dependency: 62 MB, used only to make this file):
//   npm pack emoji-datasource-twitter@16.0.0 && tar xzf emoji-datasource-twitter-16.0.0.tgz
//   npm run second-rendering -- --package-dir package --style twitter --out runs/emoji-32-twitter.png
// Twemoji's graphics are CC-BY 4.0 (attribution required wherever a model trained on them ships).
// Records the package has no image for keep the dataset's own image; the count is printed.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { parseArgs } from './lib/args';

const spec = {
  'package-dir': { default: '', help: 'an extracted emoji-datasource-<style> package (holds emoji.json and img/)' },
  style: { default: 'twitter', help: 'the style: its images are img/<style>/sheets-clean/32.png, flagged has_img_<style>' },
  data: { default: 'public/data', help: 'the dataset folder (emoji-32.json and its atlas)' },
  out: { default: '', help: 'the atlas PNG to write (required)' },
};

interface Cell { sheet_x: number; sheet_y: number; unified: string; [flag: string]: unknown }

function main(): void {
  const args = parseArgs(process.argv.slice(2), spec, 'npm run second-rendering --');
  const dir = String(args['package-dir']);
  const out = String(args.out);
  if (!dir || !out) throw new Error('--package-dir and --out are required');
  const style = String(args.style);
  const manifest = JSON.parse(readFileSync(join(String(args.data), 'emoji-32.json'), 'utf8')) as { columns: number; imageSize: number; atlas: string; records: { id: number; unified: string }[] };
  const own = PNG.sync.read(readFileSync(join(String(args.data), manifest.atlas)));
  const sheet = PNG.sync.read(readFileSync(join(dir, 'img', style, 'sheets-clean', '32.png')));
  const entries = JSON.parse(readFileSync(join(dir, 'emoji.json'), 'utf8')) as (Cell & { skin_variations?: Record<string, Cell> })[];
  const version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; version: string });
  const cells = new Map<string, Cell>();
  for (const e of entries) {
    cells.set(e.unified, e);
    for (const v of Object.values(e.skin_variations ?? {})) cells.set(v.unified, v);
  }
  const S = manifest.imageSize;
  const C = S + 2; // sheet cells have a 1 px border
  const atlas = new PNG({ width: own.width, height: own.height });
  atlas.data.set(own.data);
  let drawn = 0;
  for (const r of manifest.records) {
    const c = cells.get(r.unified);
    if (!c || !c[`has_img_${style}`]) continue;
    const [x, y] = [(r.id % manifest.columns) * S, Math.floor(r.id / manifest.columns) * S];
    const [sx, sy] = [c.sheet_x * C + 1, c.sheet_y * C + 1];
    for (let row = 0; row < S; row++) {
      for (let col = 0; col < S; col++) {
        const s = ((sy + row) * sheet.width + sx + col) * 4;
        const d = ((y + row) * atlas.width + x + col) * 4;
        const a = sheet.data[s + 3]!;
        for (let k = 0; k < 3; k++) atlas.data[d + k] = Math.round((sheet.data[s + k]! * a + 255 * (255 - a)) / 255); // on white, as the dataset
        atlas.data[d + 3] = 255;
      }
    }
    drawn++;
  }
  writeFileSync(out, PNG.sync.write(atlas));
  console.log(`${version.name} ${version.version}: ${drawn} of ${manifest.records.length} records drawn in its style (the rest keep the dataset's image) -> ${out}`);
}

main();
