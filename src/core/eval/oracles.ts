// Hidden taste oracles r*(image, prompt): the simulated annotator's taste, computed on the decoded
// 32x32 RGB image (bytes 0..255, composited on white). SAIL never sees them; the clicker turns
// their differences into noisy preferences and the evaluation scores every arm with them.
// Built-in tastes, each on a scale of about 0..1 so one clicker sharpness suits them all:
//   warm      mean(R - B) / 255             (reds and oranges over blues, -1..1)
//   cool      mean(B - R) / 255
//   bright    mean(R + G + B) / (3 * 255)
//   dark      1 - bright
//   contrast  standard deviation of the luminance / 127.5
//   symmetric 1 - 10 * mean |x - mirror(x)| / 255 over the image and its left-right mirror: a
//             taste for shape, not for a colour statistic (x10 puts its spread between samples
//             on the scale of the others, so the clicker's sharpness suits it too)
//   bold      share of the tile the drawing covers: pixels whose luminance is below 230 (the
//             white background is 255). A taste for big, filled drawings over small or thin ones:
//             an area, not a colour statistic
//   fidelity  the evaluation classifier's probability of the prompt's category
// A spec combines them as a weighted sum: "warm+fidelity", "0.5*bright+contrast". A term that is
// not a built-in name is looked up in `plugins` (the CLI fills it from a module path exporting
// `score(rgb, size, prompt)`), so an oracle nobody tuned for can be plugged in.
import * as tf from '@tensorflow/tfjs-core';
import { classifierLogits, type Classifier } from './classifier';
import { BUILT_IN_ORACLES, parseOracleSpec } from './summary';

export { BUILT_IN_ORACLES, parseOracleSpec };

/** A per-image taste: RGB bytes (size*size*3), image side, prompt -> reward. */
export type PixelScore = (rgb: Uint8Array, size: number, prompt: string) => number;

function warm(rgb: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < rgb.length; i += 3) s += rgb[i] - rgb[i + 2];
  return s / (rgb.length / 3) / 255;
}

function bright(rgb: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < rgb.length; i++) s += rgb[i];
  return s / rgb.length / 255;
}

function contrast(rgb: Uint8Array): number {
  const n = rgb.length / 3;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < rgb.length; i += 3) {
    const y = 0.299 * rgb[i] + 0.587 * rgb[i + 1] + 0.114 * rgb[i + 2];
    s += y;
    s2 += y * y;
  }
  const m = s / n;
  return Math.sqrt(Math.max(0, s2 / n - m * m)) / 127.5;
}

/** Left-right mirror symmetry of an RGB image of side `size`, in 0..1 (1: a perfect mirror image). */
function symmetric(rgb: Uint8Array, size: number): number {
  let s = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const a = 3 * (y * size + x);
      const b = 3 * (y * size + (size - 1 - x));
      for (let c = 0; c < 3; c++) s += Math.abs(rgb[a + c] - rgb[b + c]);
    }
  }
  return 1 - (10 * s) / (size * size * 3) / 255;
}

/** Share of the tile covered by the drawing: pixels darker than the white background (luminance < 230). */
function bold(rgb: Uint8Array): number {
  let covered = 0;
  for (let i = 0; i < rgb.length; i += 3) if (0.299 * rgb[i] + 0.587 * rgb[i + 1] + 0.114 * rgb[i + 2] < 230) covered++;
  return covered / (rgb.length / 3);
}

export const PIXEL_ORACLES: Readonly<Record<string, PixelScore>> = {
  symmetric,
  bold,
  warm,
  cool: (rgb) => -warm(rgb),
  bright,
  dark: (rgb) => 1 - bright(rgb),
  contrast,
};

export interface OracleContext {
  /** For `fidelity`: the evaluation classifier and the category index of a prompt. */
  classifier?: Classifier;
  labelOf?: (prompt: string) => number | undefined;
  plugins?: Readonly<Record<string, PixelScore>>;
}

export interface Oracle {
  spec: string;
  /** Rewards of RGB images (size*size*3 bytes each) for their prompts. */
  score(images: Uint8Array[], prompts: string[], size: number): Promise<number[]>;
}

/** Softmax probability of each prompt's category under the classifier, batched. */
export async function categoryProbabilities(classifier: Classifier, labelOf: (prompt: string) => number | undefined, images: Uint8Array[], prompts: string[], size: number, batch = 128): Promise<number[]> {
  const labels = prompts.map((p) => {
    const label = labelOf(p);
    if (label === undefined) throw new Error(`The fidelity oracle knows no category for the prompt "${p}"`);
    return label;
  });
  const per = size * size * 3;
  const out: number[] = [];
  for (let start = 0; start < images.length; start += batch) {
    const chunk = images.slice(start, start + batch);
    const floats = new Float32Array(chunk.length * per);
    chunk.forEach((img, i) => {
      for (let k = 0; k < per; k++) floats[i * per + k] = img[k] / 127.5 - 1;
    });
    const probs = tf.tidy(() => tf.softmax(classifierLogits(classifier.params, tf.tensor4d(floats, [chunk.length, size, size, 3]), classifier.config)));
    const data = await probs.data();
    probs.dispose();
    const k = classifier.config.numClasses;
    chunk.forEach((_, i) => out.push(data[i * k + labels[start + i]]));
  }
  return out;
}

/** The oracle a spec names; unknown names are an error that lists the choices. */
export function makeOracle(spec: string, ctx: OracleContext = {}): Oracle {
  const terms = parseOracleSpec(spec);
  for (const t of terms) {
    if (!Number.isFinite(t.weight)) throw new Error(`Oracle "${spec}": weight of "${t.name}" is not a number`);
    const known = t.name in PIXEL_ORACLES || t.name === 'fidelity' || (ctx.plugins && t.name in ctx.plugins);
    if (!known) throw new Error(`Unknown oracle "${t.name}": use ${BUILT_IN_ORACLES.join(', ')}, a weighted sum such as "0.5*bright+contrast", or (in Node) a path to a module exporting score(rgb, size, prompt)`);
    if (t.name === 'fidelity' && (!ctx.classifier || !ctx.labelOf)) throw new Error('The fidelity oracle needs the evaluation classifier (public/models/classifier)');
  }
  return {
    spec,
    async score(images, prompts, size) {
      if (images.length !== prompts.length) throw new Error(`oracle: ${images.length} images for ${prompts.length} prompts`);
      const total = new Array<number>(images.length).fill(0);
      for (const t of terms) {
        let values: number[];
        if (t.name === 'fidelity') values = await categoryProbabilities(ctx.classifier!, ctx.labelOf!, images, prompts, size);
        else {
          const f = PIXEL_ORACLES[t.name] ?? ctx.plugins![t.name];
          values = images.map((img, i) => f(img, size, prompts[i]));
        }
        values.forEach((v, i) => {
          if (!Number.isFinite(v)) throw new Error(`Oracle "${t.name}" returned ${v} for the prompt "${prompts[i]}"; a score must be a finite number`);
          total[i] += t.weight * v;
        });
      }
      return total;
    },
  };
}
