// Builds the 32x32 emoji training set from the npm package emoji-datasource-google:
//   public/data/emoji-32.png   atlas, `columns` cells of 32x32 per row, no border, record-id order, RGB on white
//   public/data/emoji-32.json  manifest (records with prompts, seeded splits, source and licences)
//   public/data/NOTICE.md      attribution for the images
// Usage: npm run dataset [-- --out public/data --columns 64 --seed 1]
// The output is deterministic: rerunning gives the same bytes.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEFAULT_SPLIT_OPTIONS,
  DEFAULT_SPLIT_SEED,
  EMOJI_SIZE,
  atlasCell,
  labelFor,
  makeSplits,
  promptFor,
  type EmojiManifest,
  type EmojiRecord,
} from '../src/core/data/emoji';
import { readPng, writePng } from './lib/png';

const PACKAGE = 'emoji-datasource-google';
// The 'clean' sheets leave cells empty where Google has no image; the other sheets fill those
// gaps with Apple glyphs, which are not licensed for this use.
const SHEET = 'img/google/sheets-clean/32.png';
// Sheet cells are 32 px with a 1 px border on each side.
const SHEET_CELL = EMOJI_SIZE + 2;
const ATLAS_FILE = 'emoji-32.png';
const MANIFEST_FILE = 'emoji-32.json';
const NOTICE_FILE = 'NOTICE.md';

/** The fields of emoji.json that we use. */
interface SheetImage {
  unified: string;
  sheet_x: number;
  sheet_y: number;
  has_img_google: boolean;
}
interface EmojiJsonEntry extends SheetImage {
  name: string;
  short_names: string[];
  category: string;
  subcategory: string;
  sort_order: number;
  skin_variations?: Record<string, SheetImage>;
}

interface Source {
  record: Omit<EmojiRecord, 'id'>;
  image: SheetImage;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: 'public/data' },
      columns: { type: 'string', default: '64' },
      seed: { type: 'string', default: String(DEFAULT_SPLIT_SEED) },
    },
  });
  const outDir = values.out;
  const columns = Number(values.columns);
  const seed = Number(values.seed);
  if (!Number.isInteger(columns) || columns < 1) throw new Error(`--columns must be a positive integer`);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer`);

  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve(`${PACKAGE}/package.json`));
  const packageJson = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
    version: string;
    license: string;
    homepage: string;
  };
  const entries = JSON.parse(readFileSync(join(packageDir, 'emoji.json'), 'utf8')) as EmojiJsonEntry[];
  const sheet = readPng(join(packageDir, SHEET));

  // Record order: emoji order (sort_order), each base followed by its skin-tone variants in
  // code-point order. Stable and meaningful (categories come out contiguous).
  const sorted = [...entries].sort((a, b) => a.sort_order - b.sort_order || compareStrings(a.unified, b.unified));
  const sources: Source[] = [];
  const skipped: string[] = [];
  for (const entry of sorted) {
    const base = {
      shortNames: entry.short_names,
      category: entry.category,
      subcategory: entry.subcategory,
      baseUnified: entry.unified,
    };
    if (entry.has_img_google) {
      sources.push({
        record: { ...base, unified: entry.unified, prompt: promptFor(entry.name, entry.short_names), skinTone: null, label: labelFor(entry.name) },
        image: entry,
      });
    } else {
      skipped.push(`${entry.unified} ${entry.name}`);
    }
    const tones = Object.keys(entry.skin_variations ?? {}).sort(compareStrings);
    for (const tone of tones) {
      const variation = entry.skin_variations![tone];
      if (!variation.has_img_google) {
        skipped.push(`${variation.unified} ${entry.name} (${tone})`);
        continue;
      }
      sources.push({
        record: { ...base, unified: variation.unified, prompt: promptFor(entry.name, entry.short_names, tone), skinTone: tone, label: labelFor(entry.name, tone) },
        image: variation,
      });
    }
  }
  // Fields in the interface's order, so the manifest reads the same way.
  const records: EmojiRecord[] = sources.map(({ record }, id) => ({
    id,
    unified: record.unified,
    prompt: record.prompt,
    shortNames: record.shortNames,
    category: record.category,
    subcategory: record.subcategory,
    skinTone: record.skinTone,
    baseUnified: record.baseUnified,
    label: record.label,
  }));

  // Atlas: copy each cell, compositing straight-alpha RGBA onto white in integer arithmetic.
  const rows = Math.ceil(records.length / columns);
  const width = columns * EMOJI_SIZE;
  const height = rows * EMOJI_SIZE;
  const atlas = new Uint8Array(width * height * 4).fill(255);
  sources.forEach(({ image }, id) => {
    const { x, y } = atlasCell(id, columns);
    const sheetX = image.sheet_x * SHEET_CELL + 1;
    const sheetY = image.sheet_y * SHEET_CELL + 1;
    if (sheetX + EMOJI_SIZE > sheet.width || sheetY + EMOJI_SIZE > sheet.height) {
      throw new Error(`${image.unified}: sheet cell (${image.sheet_x}, ${image.sheet_y}) lies outside ${SHEET}`);
    }
    let opaque = 0;
    for (let row = 0; row < EMOJI_SIZE; row++) {
      for (let col = 0; col < EMOJI_SIZE; col++) {
        const s = ((sheetY + row) * sheet.width + sheetX + col) * 4;
        const d = ((y + row) * width + x + col) * 4;
        const alpha = sheet.data[s + 3];
        if (alpha > 0) opaque++;
        for (let c = 0; c < 3; c++) {
          atlas[d + c] = Math.round((sheet.data[s + c] * alpha + 255 * (255 - alpha)) / 255);
        }
      }
    }
    // A blank cell would mean wrong coordinates or a gap in the clean sheet: fail loudly.
    if (opaque === 0) throw new Error(`${image.unified}: cell (${image.sheet_x}, ${image.sheet_y}) of ${SHEET} is empty`);
  });

  const categories = [...new Set(records.map((record) => record.category))];
  const manifest: EmojiManifest = {
    version: 1,
    imageSize: EMOJI_SIZE,
    count: records.length,
    columns,
    atlas: ATLAS_FILE,
    records,
    splits: makeSplits(records, seed, DEFAULT_SPLIT_OPTIONS),
    categories,
    source: {
      package: PACKAGE,
      version: packageJson.version,
      sheet: SHEET,
      homepage: packageJson.homepage,
      imageLicence: 'Apache-2.0',
      packageLicence: packageJson.license,
      notice: NOTICE_FILE,
    },
  };

  mkdirSync(outDir, { recursive: true });
  writePng(join(outDir, ATLAS_FILE), width, height, atlas, { alpha: false });
  writeFileSync(join(outDir, MANIFEST_FILE), formatManifest(manifest));
  writeFileSync(join(outDir, NOTICE_FILE), notice(packageJson.version));

  // Report.
  console.log(`${PACKAGE} ${packageJson.version}: ${entries.length} emoji, ${records.length} images with a Google image`);
  const bases = records.filter((record) => record.skinTone === null).length;
  console.log(`  ${bases} base emoji + ${records.length - bases} skin-tone variants; skipped (no Google image): ${skipped.length}`);
  for (const line of skipped) console.log(`  skipped ${line}`);
  console.log(`category               images  (base + variants)`);
  for (const category of categories) {
    const inCategory = records.filter((record) => record.category === category);
    const baseCount = inCategory.filter((record) => record.skinTone === null).length;
    console.log(`  ${category.padEnd(20)} ${String(inCategory.length).padStart(5)}  (${baseCount} + ${inCategory.length - baseCount})`);
  }
  const { splits } = manifest;
  console.log(
    `splits (seed ${splits.seed}): pretrain ${splits.pretrain.length}, sail pools ${splits.sailPools
      .map((pool) => pool.length)
      .join(' / ')}, evaluation ${splits.evaluation.length} images`,
  );
  const prompts = new Set(records.map((record) => record.prompt));
  console.log(`distinct prompts: ${prompts.size}`);
  console.log(`wrote ${join(outDir, ATLAS_FILE)} (${width}x${height}, ${columns} columns), ${join(outDir, MANIFEST_FILE)}, ${join(outDir, NOTICE_FILE)}`);
}

/**
 * JSON with one record and one id list per line: a third of the size of indented JSON, and a
 * rebuild that changes one emoji shows up as a one-line diff.
 */
function formatManifest(manifest: EmojiManifest): string {
  const { records, splits, ...header } = manifest;
  const lines = Object.entries(header).map(([key, value]) => `  ${JSON.stringify(key)}: ${JSON.stringify(value)},`);
  lines.push(
    `  "splits": {`,
    `    "seed": ${splits.seed},`,
    `    "pretrain": ${JSON.stringify(splits.pretrain)},`,
    `    "sailPools": [`,
    splits.sailPools.map((pool) => `      ${JSON.stringify(pool)}`).join(',\n'),
    `    ],`,
    `    "evaluation": ${JSON.stringify(splits.evaluation)}`,
    `  },`,
    `  "records": [`,
    records.map((record) => `    ${JSON.stringify(record)}`).join(',\n'),
    `  ]`,
  );
  const text = `{\n${lines.join('\n')}\n}\n`;
  // The hand-made layout must still parse back to the same object.
  if (JSON.stringify(JSON.parse(text)) !== JSON.stringify({ ...header, splits, records })) {
    throw new Error('formatManifest produced JSON that does not round-trip');
  }
  return text;
}

/** Code-unit string order, independent of the locale (localeCompare is not). */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function notice(version: string): string {
  return `# Emoji images: attribution and licences

\`${ATLAS_FILE}\` (and the records in \`${MANIFEST_FILE}\`) are built by \`scripts/build-dataset.ts\`
from the npm package [\`${PACKAGE}\`](https://www.npmjs.com/package/${PACKAGE}) version ${version}, part of
[iamcal/emoji-data](https://github.com/iamcal/emoji-data): the sprite sheet \`${SHEET}\` and \`emoji.json\`.
Each 32x32 image was cut from the sheet and composited onto a white background; nothing else was changed.

## The images: Google Noto Emoji, Apache License 2.0

The images are Google's [Noto Emoji](https://github.com/googlefonts/noto-emoji). The package's README says:

> Android/Google/Noto images, are available under the [Apache License 2.0](https://github.com/googlei18n/noto-emoji/blob/master/LICENSE).

and, of the sheets:

> If you use the spritesheet images and are concerned about usage rights, please use the 'clean' versions, which avoid using fallback images for
> missing emoji

This data set uses the clean sheet, so it holds Noto images only (no fallback images from other vendors).

The Noto Emoji project's own README adds: "Tools and most image resources are under the Apache license, version 2.0.
Flag images under third_party/region-flags are in the public domain or otherwise exempt from copyright."

The Noto Emoji images are licensed under the Apache License, Version 2.0 (the "License");
you may not use these files except in compliance with the License. You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software distributed under the License is
distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and limitations under the License.

## The names and metadata: emoji-data, MIT

The emoji names, short names and categories come from \`emoji.json\` in the same package, whose licence
(\`LICENSE\` in the package) is:

> The MIT License (MIT)
>
> Copyright (c) 2013 Cal Henderson
>
> Permission is hereby granted, free of charge, to any person obtaining a copy
> of this software and associated documentation files (the "Software"), to deal
> in the Software without restriction, including without limitation the rights
> to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
> copies of the Software, and to permit persons to whom the Software is
> furnished to do so, subject to the following conditions:
>
> The above copyright notice and this permission notice shall be included in all
> copies or substantial portions of the Software.
>
> THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
> IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
> FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
> AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
> LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
> OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
> SOFTWARE.
`;
}

main();
