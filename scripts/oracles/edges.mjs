// A plug-in taste nobody tuned SAIL for, for `npm run eval -- --oracle scripts/oracles/edges.mjs`:
// outlined, detailed drawings over flat or faint ones. The mean absolute luminance step between
// neighbouring pixels (right and down neighbours summed), / 255, that is the image's total
// variation per pixel: a taste for outline and texture, not a colour statistic.
// rgb: Uint8Array of size*size*3 bytes (0..255, on white).
export function score(rgb, size, prompt) {
  void prompt;
  const y = new Float64Array(size * size);
  for (let i = 0; i < y.length; i++) y[i] = 0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2];
  let s = 0;
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      const i = r * size + c;
      if (c + 1 < size) s += Math.abs(y[i + 1] - y[i]);
      if (r + 1 < size) s += Math.abs(y[i + size] - y[i]);
    }
  }
  return s / (size * size) / 255;
}
