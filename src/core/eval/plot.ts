// A small line-plot rasteriser for docs/results.md: one metric across SAIL rounds, one line per
// SAIL arm with its 95% interval as error bars, the other arms as dashed horizontal lines at
// their final value. RGBA out (encode with data/png.ts); no fonts: a 3x5 pixel digit set labels
// the axes, and the report's legend names the colours. No TF.js, no DOM.

export interface PlotSeries {
  label: string;
  /** [r, g, b] */
  colour: [number, number, number];
  /** y per x (round); NaN = no point. */
  mean: number[];
  low: number[];
  high: number[];
  /** Drawn as a dashed horizontal line at mean[0] across the plot. */
  horizontal?: boolean;
}

export const PLOT_COLOURS: [number, number, number][] = [
  [120, 120, 120],
  [230, 159, 0],
  [213, 94, 0],
  [0, 114, 178],
  [0, 158, 115],
  [204, 121, 167],
  [86, 180, 233],
];

/** 3x5 glyphs, rows top to bottom, 3 bits each (4 = left pixel). */
const GLYPHS: Record<string, number[]> = {
  '0': [7, 5, 5, 5, 7], '1': [2, 6, 2, 2, 7], '2': [7, 1, 7, 4, 7], '3': [7, 1, 7, 1, 7], '4': [5, 5, 7, 1, 1],
  '5': [7, 4, 7, 1, 7], '6': [7, 4, 7, 5, 7], '7': [7, 1, 1, 1, 1], '8': [7, 5, 7, 5, 7], '9': [7, 5, 7, 1, 7],
  '.': [0, 0, 0, 0, 2], '-': [0, 0, 7, 0, 0], '%': [5, 1, 2, 4, 5],
};

export interface Raster {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

function raster(width: number, height: number): Raster {
  return { width, height, data: new Uint8ClampedArray(width * height * 4).fill(255) };
}

function dot(r: Raster, x: number, y: number, c: [number, number, number]): void {
  const xi = Math.round(x);
  const yi = Math.round(y);
  if (xi < 0 || yi < 0 || xi >= r.width || yi >= r.height) return;
  const k = (yi * r.width + xi) * 4;
  r.data[k] = c[0];
  r.data[k + 1] = c[1];
  r.data[k + 2] = c[2];
}

/** A line of thickness 2 from (x0, y0) to (x1, y1); dash = pixels on/off (0 = solid). */
function line(r: Raster, x0: number, y0: number, x1: number, y1: number, c: [number, number, number], dash = 0): void {
  const steps = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0)));
  for (let i = 0; i <= steps; i++) {
    if (dash > 0 && Math.floor(i / dash) % 2 === 1) continue;
    const x = x0 + ((x1 - x0) * i) / steps;
    const y = y0 + ((y1 - y0) * i) / steps;
    dot(r, x, y, c);
    dot(r, x + 1, y, c);
    dot(r, x, y + 1, c);
  }
}

function text(r: Raster, s: string, x: number, y: number, scale = 2): void {
  let cx = x;
  for (const ch of s) {
    const g = GLYPHS[ch];
    if (g) {
      for (let row = 0; row < 5; row++) for (let col = 0; col < 3; col++) if (g[row] & (4 >> col)) for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) dot(r, cx + col * scale + dx, y + row * scale + dy, [60, 60, 60]);
    }
    cx += 4 * scale;
  }
}

const fmt = (v: number, percent: boolean) => (percent ? `${(100 * v).toFixed(0)}%` : v.toFixed(2));

/** The plot of `series` over `points` x positions (rounds 0..points-1). */
export function plotRounds(series: PlotSeries[], points: number, opts: { percent: boolean; width?: number; height?: number }): Raster {
  const width = opts.width ?? 420;
  const height = opts.height ?? 220;
  const r = raster(width, height);
  const left = 56;
  const right = width - 16;
  const top = 12;
  const bottom = height - 28;
  const values = series.flatMap((s) => [...s.mean, ...s.low, ...s.high]).filter(Number.isFinite);
  let lo = values.length ? Math.min(...values) : 0;
  let hi = values.length ? Math.max(...values) : 1;
  if (opts.percent) {
    lo = Math.max(0, lo);
    hi = Math.min(1, hi);
  }
  if (hi - lo < 1e-6) {
    lo -= 0.5 * (Math.abs(lo) || 1) * 0.1;
    hi += 0.5 * (Math.abs(hi) || 1) * 0.1;
  }
  const X = (i: number) => (points <= 1 ? (left + right) / 2 : left + ((right - left) * i) / (points - 1));
  const Y = (v: number) => bottom - ((bottom - top) * (v - lo)) / (hi - lo);
  const grey: [number, number, number] = [200, 200, 200];
  line(r, left, bottom, right, bottom, [90, 90, 90]);
  line(r, left, top, left, bottom, [90, 90, 90]);
  for (let i = 0; i < points; i++) {
    line(r, X(i), bottom, X(i), bottom + 4, [90, 90, 90]);
    text(r, String(i), X(i) - 3, bottom + 9);
  }
  for (const v of [lo, (lo + hi) / 2, hi]) {
    line(r, left - 4, Y(v), right, Y(v), grey, v === lo ? 0 : 3);
    text(r, fmt(v, opts.percent), 2, Y(v) - 5);
  }
  for (const s of series) {
    if (s.horizontal) {
      const v = s.mean.find(Number.isFinite);
      if (v !== undefined) line(r, left, Y(v), right, Y(v), s.colour, 6);
      continue;
    }
    let prev: [number, number] | null = null;
    for (let i = 0; i < points; i++) {
      const m = s.mean[i];
      if (!Number.isFinite(m)) {
        prev = null;
        continue;
      }
      if (Number.isFinite(s.low[i]) && Number.isFinite(s.high[i])) {
        line(r, X(i), Y(Math.max(lo, s.low[i])), X(i), Y(Math.min(hi, s.high[i])), s.colour);
        line(r, X(i) - 3, Y(Math.max(lo, s.low[i])), X(i) + 3, Y(Math.max(lo, s.low[i])), s.colour);
        line(r, X(i) - 3, Y(Math.min(hi, s.high[i])), X(i) + 3, Y(Math.min(hi, s.high[i])), s.colour);
      }
      if (prev) line(r, prev[0], prev[1], X(i), Y(m), s.colour);
      for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) dot(r, X(i) + dx, Y(m) + dy, s.colour);
      prev = [X(i), Y(m)];
    }
  }
  return r;
}
