// The quality report's file side (scripts/quality.ts): loads the checkpoint, the classifier and
// the dataset, measures (src/core/eval/quality.ts), writes the markdown and the grid PNG.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseClassifier, type Classifier } from '../../src/core/eval/classifier';
import { defaultQualityOptions, measureQuality, quickQualityOptions, renderQualityReport, type QualityFigures, type QualityOptions } from '../../src/core/eval/quality';
import { disposeParams } from '../../src/core/model/layers';
import type { SamplingConfig } from '../../src/core/model/config';
import { loadCheckpointDir } from './checkpointFs';
import { tileImages } from './grid';
import { loadEmojiDataset, writePng } from './png';

export function loadClassifierDir(dir: string): Classifier & { file: Record<string, unknown> } {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new Error(`No classifier in ${dir} (config.json missing; run npm run train-classifier)`);
  return parseClassifier(readFileSync(configPath, 'utf8'), readFileSync(join(dir, 'model.safetensors')));
}

export interface QualityRun {
  model: string;
  classifier: string;
  data: string;
  /** Markdown path; the grid PNG goes next to it as <name>-grid.png. */
  out: string;
  quick: boolean;
  command: string;
  backend: string;
  /** Overrides of the (default or quick) settings. */
  overrides?: Partial<QualityOptions>;
  /** Sampler settings that replace the checkpoint's own (guidance bands, rescale). */
  sampling?: Partial<SamplingConfig>;
  onProgress?: QualityOptions['onProgress'];
}

/** Measures and writes the report; returns the figures, the markdown and the paths written. */
export async function runQuality(run: QualityRun): Promise<{ figures: QualityFigures; markdown: string; reportPath: string; gridPath: string }> {
  const ck = loadCheckpointDir(run.model);
  if (run.sampling) ck.config.sampling = { ...ck.config.sampling, ...run.sampling };
  const clf = loadClassifierDir(run.classifier);
  try {
    const dataset = loadEmojiDataset(run.data);
    const base = run.quick ? quickQualityOptions(ck.config) : defaultQualityOptions(ck.config);
    const opts: QualityOptions = { ...base, ...run.overrides, onProgress: run.onProgress };
    const figures = await measureQuality(ck, clf, dataset, opts);

    const reportPath = run.out;
    const gridPath = join(dirname(reportPath), `${basename(reportPath).replace(/\.md$/i, '')}-grid.png`);
    mkdirSync(dirname(reportPath), { recursive: true });
    const size = figures.grid.size;
    const blank = new Uint8ClampedArray(size * size * 4).fill(255);
    const cells = figures.grid.rows.flatMap((r) => [r.real ?? blank, ...r.samples]);
    const grid = tileImages(cells, size, figures.grid.samples + 1, 2);
    writePng(gridPath, grid.width, grid.height, grid.rgba);

    const markdown = renderQualityReport(figures, {
      command: run.command,
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      modelPath: run.model,
      classifierPath: run.classifier,
      checkpointBytes: statSync(join(run.model, 'model.safetensors')).size,
      configBytes: statSync(join(run.model, 'config.json')).size,
      gridFile: basename(gridPath),
      backend: run.backend,
      provenance: ck.config.provenance ?? {},
      sampling: ck.config.sampling,
      classifierInfo: clf.file,
    });
    writeFileSync(reportPath, markdown);
    return { figures, markdown, reportPath, gridPath };
  } finally {
    disposeParams(ck.params);
    disposeParams(clf.params);
  }
}
