// Kernel inception distance (Binkowski et al. 2018, "Demystifying MMD GANs"): the unbiased squared
// MMD between two feature sets under the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3. Unlike
// FID it has an unbiased estimator, so it stays meaningful on the few hundred samples measured
// here. The features are the evaluation classifier's penultimate layer (eval/classifier.ts), not
// Inception's: no network can be downloaded, and ours is trained on emoji.

function kernel(a: Float32Array, i: number, b: Float32Array, j: number, d: number): number {
  let dot = 0;
  for (let k = 0; k < d; k++) dot += a[i * d + k] * b[j * d + k];
  return (dot / d + 1) ** 3;
}

/** Unbiased MMD^2 between feature sets x [m*d] and y [n*d] (m, n >= 2). */
export function kernelInceptionDistance(x: Float32Array, y: Float32Array, d: number): number {
  const m = x.length / d;
  const n = y.length / d;
  if (!Number.isInteger(m) || !Number.isInteger(n) || m < 2 || n < 2) throw new Error(`KID needs at least 2 feature vectors of size ${d} on each side (got ${m} and ${n})`);
  let xx = 0;
  for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) xx += kernel(x, i, x, j, d);
  let yy = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) yy += kernel(y, i, y, j, d);
  let xy = 0;
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) xy += kernel(x, i, y, j, d);
  return (2 * xx) / (m * (m - 1)) + (2 * yy) / (n * (n - 1)) - (2 * xy) / (m * n);
}
