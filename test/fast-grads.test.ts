// Issue 11's cheap levers: bias (and GroupNorm/LayerNorm scale) gradients as matMuls with a ones
// row, and Adam + clipping over one flat buffer. Each against the plain formulation, and for leaks.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { gaussianArray, addBias, conv, linear, readParams, scaleShift, silu, upsample2x, type Params } from '../src/core/model/layers';
import { adamApply, adamFromMoments, adamInit, adamMoments, adamStep, disposeAdam } from '../src/core/train';
import { ADAM_KERNEL, setWasmAdamKernel } from '../src/core/kernels/adamWasm';
import { memorySnapshot, useBackend, withKernelNames } from './helpers';

beforeAll(async () => {
  await useBackend('wasm');
});

const maxRelDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  return diff / Math.max(scale, 1e-12);
};

describe('bias and scale gradients as matMuls', () => {
  for (const shape of [[2, 4, 4, 6], [5, 7], [3, 17, 64]] as number[][]) {
    it(`addBias and scaleShift on [${shape}] match tf.add / tf.mul in value and gradient, leaking nothing`, async () => {
      const c = shape[shape.length - 1];
      const size = shape.reduce((a, b) => a * b, 1);
      const x = tf.tensor(gaussianArray(size, 1), shape);
      const b = tf.tensor1d(gaussianArray(c, 2));
      const g = tf.tensor1d(gaussianArray(c, 3));
      const w = tf.tensor(gaussianArray(size, 4), shape); // a fixed weighting so dy is not all ones
      const before = tf.memory().numTensors;
      const fast = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(w, tf.square(scaleShift(addBias(xx, bb), gg, bb)))));
      const plain = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(w, tf.square(tf.add(tf.mul(tf.add(xx, bb), gg), bb)))));
      const gf = fast([x, g, b]);
      const gp = plain([x, g, b]);
      for (let i = 0; i < 3; i++) expect(maxRelDiff(await gf[i].data(), await gp[i].data())).toBeLessThan(1e-5);
      const [vf, vp] = tf.tidy(() => [scaleShift(addBias(x, b), g, b), tf.add(tf.mul(tf.add(x, b), g), b)]);
      expect(Array.from(await vf.data())).toEqual(Array.from(await vp.data()));
      tf.dispose([...gf, ...gp, vf, vp]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, b, g, w]);
    });
  }
});

describe('Adam over one flat buffer', () => {
  /** Per-parameter Adam with global-norm clipping in float64, the textbook formulation. */
  function referenceAdam(p: Float64Array[], grads: Float64Array[], m: Float64Array[], v: Float64Array[], t: number, lr: number, clip: number) {
    const norm = Math.sqrt(grads.reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0));
    const scale = Math.min(1, clip / (norm + 1e-12));
    p.forEach((pi, i) =>
      pi.forEach((_, j) => {
        const gj = grads[i][j] * scale;
        m[i][j] = 0.9 * m[i][j] + 0.1 * gj;
        v[i][j] = 0.999 * v[i][j] + 0.001 * gj * gj;
        pi[j] -= (lr * (m[i][j] / (1 - 0.9 ** t))) / (Math.sqrt(v[i][j] / (1 - 0.999 ** t)) + 1e-8);
      }),
    );
    return norm;
  }

  it('the one-kernel Adam on wasm (kernels/adamWasm.ts) gives the composed ops\' update: sizes with tails, clipped or not, a NaN gradient poisons both; no leak', async () => {
    // Sizes not in fours or sixteens, so both kernels' tails run; 1,003 values in all.
    const shapes: Record<string, number[]> = { a: [7, 9], b: [3], c: [4, 4, 5, 12], d: [1] };
    const names = Object.keys(shapes);
    const total = names.reduce((n, k) => n + shapes[k].reduce((a, b) => a * b, 1), 0);
    for (const [clipNorm, gradScale, bad] of [[0.5, 1, false], [undefined, 1, false], [100, 0.01, false], [1, 1, true]] as [number | undefined, number, boolean][]) {
      const run = async (kernel: boolean) => {
        setWasmAdamKernel(kernel);
        try {
          const params: Params = {};
          names.forEach((n, i) => (params[n] = tf.tensor(gaussianArray(shapes[n].reduce((a, b) => a * b, 1), 30 + i), shapes[n])));
          const adam = adamInit(params, names);
          const before = memorySnapshot();
          const norms: number[] = [];
          let launched: string[] = [];
          for (let step = 0; step < 3; step++) {
            const g = gaussianArray(total, 40 + step, gradScale);
            if (bad) g[17] = NaN;
            const grad = tf.tensor1d(g);
            const { out, names: ks } = withKernelNames(() => adamApply(params, names, adam, { lr: 1e-2, clipNorm }, grad));
            norms.push(await out);
            launched = ks;
            grad.dispose();
          }
          expect(memorySnapshot()).toEqual(before);
          const values = [...names.map((n) => Array.from(params[n].dataSync())), Array.from(adam.m.dataSync()), Array.from(adam.v.dataSync())];
          disposeAdam(adam);
          tf.dispose(Object.values(params));
          return { norms, values, launched };
        } finally {
          setWasmAdamKernel(true);
        }
      };
      const fused = await run(true);
      const composed = await run(false);
      expect(fused.launched).toEqual([ADAM_KERNEL]);
      expect(composed.launched).not.toContain(ADAM_KERNEL);
      fused.norms.forEach((x, i) => (bad ? expect(x).toBeNaN() : expect(Math.abs(x - composed.norms[i]) / composed.norms[i]).toBeLessThan(1e-6)));
      fused.values.forEach((vals, k) => {
        // NaN exactly where the composed update has it, the same values elsewhere.
        vals.forEach((x, i) => expect(Number.isNaN(x), `clip ${clipNorm}, buffer ${k}, value ${i}`).toBe(Number.isNaN(composed.values[k][i])));
        if (bad) expect(vals.some((x) => Number.isNaN(x))).toBe(k === 0 || k >= names.length);
        const finite = (a: number[]) => a.map((x) => (Number.isNaN(x) ? 0 : x));
        expect(maxRelDiff(finite(vals), finite(composed.values[k])), `clip ${clipNorm}, buffer ${k}`).toBeLessThan(1e-5);
      });
    }
  });

  it('matches per-parameter Adam with clipping over 4 steps, round-trips its moments, and leaks nothing', async () => {
    const shapes: Record<string, number[]> = { 'a.weight': [3, 4], 'a.bias': [4], 'b.weight': [2, 2, 4, 5], frozen: [3] };
    const params: Params = {};
    Object.entries(shapes).forEach(([n, s], i) => (params[n] = tf.tensor(gaussianArray(s.reduce((a, b) => a * b, 1), 10 + i), s)));
    const names = ['a.weight', 'a.bias', 'b.weight'];
    const target = tf.tensor(gaussianArray(3 * 5, 20), [3, 5]);
    const input = tf.tensor(gaussianArray(3 * 3, 21), [3, 3]);
    // loss = mean((relu(input A + a.bias) reshaped . B-slice - target)^2) * 10: gradients large enough to clip.
    const loss = (p: Params) =>
      tf.tidy(() => {
        const h = tf.relu(tf.add(tf.matMul(input, p['a.weight']), p['a.bias']));
        const out = tf.matMul(h, tf.slice(tf.reshape(p['b.weight'], [4 * 4, 5]), [0, 0], [4, 5]));
        return tf.mul(tf.mean(tf.square(tf.sub(out, target))), 10) as tf.Scalar;
      });
    const ref = names.map((n) => Float64Array.from(params[n].dataSync()));
    const m = names.map((n) => new Float64Array(params[n].size));
    const v = names.map((n) => new Float64Array(params[n].size));
    const frozenBefore = Array.from(params.frozen.dataSync());
    const adam = adamInit(params, names);
    const before = tf.memory().numTensors;
    for (let t = 1; t <= 4; t++) {
      // The reference's gradient at the reference's own point (the same point as the flat step's).
      const grads = tf.grads((...xs: tf.Tensor[]) => loss({ ...params, ...Object.fromEntries(names.map((n, i) => [n, xs[i]])) }))(names.map((n) => params[n]));
      const g64 = grads.map((g) => Float64Array.from(g.dataSync()));
      tf.dispose(grads);
      const refNorm = referenceAdam(ref, g64, m, v, t, 1e-2, 0.5);
      const { gradNorm } = await adamStep(params, names, adam, { lr: 1e-2, clipNorm: 0.5 }, loss);
      expect(gradNorm).toBeCloseTo(refNorm, 4);
      expect(refNorm).toBeGreaterThan(0.5); // the clip is exercised
      names.forEach((n, i) => expect(maxRelDiff(params[n].dataSync(), ref[i])).toBeLessThan(1e-5));
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(params.frozen.dataSync())).toEqual(frozenBefore);
    expect(adam.step).toBe(4);

    // Saved as per-parameter moments and loaded back: the same flat state, in the parameters' shapes.
    const saved = await adamMoments(adam, params);
    expect(Object.keys(saved).sort()).toEqual(names.flatMap((n) => [`m.${n}`, `v.${n}`]).sort());
    expect(saved['m.b.weight'].shape).toEqual(shapes['b.weight']);
    names.forEach((n, i) => expect(maxRelDiff(saved[`v.${n}`].dataSync(), v[i])).toBeLessThan(1e-4));
    const loaded = adamFromMoments(params, names, saved, adam.step);
    expect(Array.from(loaded.m.dataSync())).toEqual(Array.from(adam.m.dataSync()));
    expect(Array.from(loaded.v.dataSync())).toEqual(Array.from(adam.v.dataSync()));
    await expect(adamStep(params, ['a.bias'], loaded, { lr: 1 }, loss)).rejects.toThrow(/names differ/);
    disposeAdam(loaded);
    disposeAdam(adam);
    tf.dispose([...Object.values(params), target, input]);
  });
});

describe('upsample2x', () => {
  it('values are nearest-neighbour copies; its gradient (a depthwise 2x2 sum) equals the broadcast formulation and a hand sum on cpu and wasm, leaking nothing', async () => {
    const shape = [2, 3, 5, 8] as [number, number, number, number];
    const run = async () => {
      const x = tf.tensor4d(gaussianArray(2 * 3 * 5 * 8, 4), shape);
      const dy = tf.tensor4d(gaussianArray(2 * 6 * 10 * 8, 5), [2, 6, 10, 8]);
      const y = upsample2x(x);
      const g = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(upsample2x(z as tf.Tensor4D), dy)))(x);
      const plain = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(tf.reshape(tf.mul(tf.reshape(z, [2, 3, 1, 5, 1, 8]), tf.ones([1, 1, 2, 1, 2, 1])), [2, 6, 10, 8]), dy)))(x);
      const out = { x: await x.data(), y: await y.data(), dy: await dy.data(), g: await g.data(), plain: await plain.data() };
      tf.dispose([x, dy, y, g, plain]);
      return out;
    };
    for (const backend of ['cpu', 'wasm'] as const) {
      await useBackend(backend);
      const before = tf.memory().numTensors;
      const r = await run();
      expect(tf.memory().numTensors).toBe(before);
      // y[b][2i+di][2j+dj][c] = x[b][i][j][c]; dx[b][i][j][c] = the sum of dy over that 2x2 block.
      const at = (b: number, i: number, j: number, c: number, h: number, w: number) => ((b * h + i) * w + j) * 8 + c;
      let worst = 0;
      for (let b = 0; b < 2; b++) for (let i = 0; i < 3; i++) for (let j = 0; j < 5; j++) for (let c = 0; c < 8; c++) {
        let sum = 0;
        for (const di of [0, 1]) for (const dj of [0, 1]) {
          expect(r.y[at(b, 2 * i + di, 2 * j + dj, c, 6, 10)]).toBe(r.x[at(b, i, j, c, 3, 5)]);
          sum += r.dy[at(b, 2 * i + di, 2 * j + dj, c, 6, 10)];
        }
        worst = Math.max(worst, Math.abs(r.g[at(b, i, j, c, 3, 5)] - sum));
      }
      expect(worst).toBeLessThan(1e-5);
      expect(maxRelDiff(r.g, r.plain)).toBeLessThan(1e-6);
    }
    await useBackend('wasm');
  });
});

describe('silu', () => {
  it('value x sigmoid(x); its gradient (one kernel on wasm, from the saved sigmoid) equals autodiff of the composed ops, on a size that is not a multiple of 4 too, leaking nothing', async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await useBackend(backend);
      for (const shape of [[4, 8, 8, 12], [3, 5, 7]] as number[][]) {
        const size = shape.reduce((a, b) => a * b, 1);
        const x = tf.tensor(gaussianArray(size, 6).map((v) => 3 * v), shape);
        const dy = tf.tensor(gaussianArray(size, 7), shape);
        tf.dispose(tf.grad((z: tf.Tensor) => tf.sum(tf.mul(silu(z), dy)))(x)); // warm-up (a backend's first use keeps a tensor)
        const before = tf.memory().numTensors;
        const y = silu(x);
        const g = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(silu(z), dy)))(x);
        const plainY = tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
        const plainG = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(tf.mul(z, tf.sigmoid(z)), dy)))(x);
        expect(maxRelDiff(await y.data(), await plainY.data())).toBeLessThan(1e-6);
        expect(maxRelDiff(await g.data(), await plainG.data())).toBeLessThan(1e-5);
        expect(Math.max(...Array.from(await g.data(), Math.abs))).toBeGreaterThan(0.1);
        tf.dispose([y, g, plainY, plainG]);
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([x, dy]);
      }
    }
    await useBackend('wasm');
  });
});

describe('forward-only layers take the fused kernels', () => {
  const kernelsOf = async (f: () => tf.Tensor) => {
    const info = await tf.profile(() => f());
    tf.dispose(info.result as tf.Tensor);
    return info.kernels.map((k) => k.name);
  };
  for (const [shape, inC, outC, k, stride] of [[[3, 8, 8, 12], 12, 20, 3, 1], [[2, 9, 7, 4], 4, 8, 3, 2], [[4, 4, 4, 16], 16, 24, 1, 1]] as [number[], number, number, number, 1 | 2][]) {
    it(`conv ${k}x${k}/${stride} on [${shape}] -> ${outC}: bias inside the conv outside a tape (one kernel), the same values and gradients as conv + addBias`, async () => {
      const size = shape.reduce((a, b) => a * b, 1);
      const x = tf.tensor4d(gaussianArray(size, 5), shape as [number, number, number, number]);
      const params: Params = { 'c.weight': tf.tensor4d(gaussianArray(k * k * inC * outC, 6, 0.3), [k, k, inC, outC]), 'c.bias': tf.tensor1d(gaussianArray(outC, 7)) };
      const p = readParams(params);
      const before = tf.memory().numTensors;
      const fused = tf.tidy(() => conv(p, 'c', x, inC, outC, { k, stride }));
      const plain = tf.tidy(() => tf.add(tf.conv2d(x, params['c.weight'] as tf.Tensor4D, stride, 'same'), params['c.bias']));
      expect(fused.shape).toEqual(plain.shape);
      expect(maxRelDiff(await fused.data(), await plain.data())).toBeLessThan(1e-5);
      const names = await kernelsOf(() => tf.tidy(() => conv(p, 'c', x, inC, outC, { k, stride })));
      expect(names).toContain('FusedConv2D');
      expect(names).not.toContain('Conv2D');
      // Under a tape the layer keeps conv + addBias, whose gradient is the column-sum kernel.
      const g = tf.grads((w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(conv(readParams({ 'c.weight': w, 'c.bias': b }), 'c', x, inC, outC, { k, stride }))));
      const gp = tf.grads((w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.add(tf.conv2d(x, w as tf.Tensor4D, stride, 'same'), b))));
      const [gw, gb] = g([params['c.weight'], params['c.bias']]);
      const [pw, pb] = gp([params['c.weight'], params['c.bias']]);
      expect(maxRelDiff(await gw.data(), await pw.data())).toBeLessThan(1e-4);
      expect(maxRelDiff(await gb.data(), await pb.data())).toBeLessThan(1e-4);
      tf.dispose([fused, plain, gw, gb, pw, pb]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, ...Object.values(params)]);
    });
  }

  it('linear on [3, 5, 24] -> 16: bias inside the product outside a tape, the same values as matMul + addBias', async () => {
    const x = tf.tensor3d(gaussianArray(3 * 5 * 24, 8), [3, 5, 24]);
    const params: Params = { 'l.weight': tf.tensor2d(gaussianArray(24 * 16, 9, 0.2), [24, 16]), 'l.bias': tf.tensor1d(gaussianArray(16, 10)) };
    const p = readParams(params);
    const before = tf.memory().numTensors;
    const fused = tf.tidy(() => linear(p, 'l', x, 24, 16));
    const plain = tf.tidy(() => tf.reshape(tf.add(tf.matMul(tf.reshape(x, [-1, 24]), params['l.weight']), params['l.bias']), [3, 5, 16]));
    expect(fused.shape).toEqual([3, 5, 16]);
    expect(maxRelDiff(await fused.data(), await plain.data())).toBeLessThan(1e-5);
    const names = await kernelsOf(() => tf.tidy(() => linear(p, 'l', x, 24, 16)));
    // On wasm the whole layer is one launch (kernels/linearWasm.ts: the shipped fused product inside).
    expect(names).toEqual(['SailLinear']);
    const g = tf.grads((w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(linear(readParams({ 'l.weight': w, 'l.bias': b }), 'l', x, 24, 16))));
    const [gw, gb] = g([params['l.weight'], params['l.bias']]);
    const gp = tf.grads((w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.add(tf.matMul(tf.reshape(x, [-1, 24]), w), b))));
    const [pw, pb] = gp([params['l.weight'], params['l.bias']]);
    expect(maxRelDiff(await gw.data(), await pw.data())).toBeLessThan(1e-4);
    expect(maxRelDiff(await gb.data(), await pb.data())).toBeLessThan(1e-4);
    tf.dispose([fused, plain, gw, gb, pw, pb]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, ...Object.values(params)]);
  });
});
