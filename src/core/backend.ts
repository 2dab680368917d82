// Picks and initialises the TF.js compute backend (architecture.md section 7).
//
// Works on a browser main thread, in a module Web Worker and in Node: it only
// touches `globalThis.navigator` (present in windows and workers, absent in
// Node 20) and TF.js itself.
//
// The rule: WebGPU on a hardware adapter; on a software fallback adapter
// (headless Chromium's SwiftShader) or no WebGPU at all, wasm, which is about
// 10x faster than SwiftShader here; the cpu backend last. The user may override
// the choice; the returned `reason` is a sentence the UI can show as it is.

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
// Safe in Node: the package registers its backend only when navigator.gpu exists.
import '@tensorflow/tfjs-backend-webgpu';
import './gradients';
import { registerWasmConv2DBackpropFilter } from './kernels/conv2dBackpropFilterWasm';
import { registerWasmConv2DBackpropInput } from './kernels/conv2dBackpropInputWasm';
import { registerWasmConv2DForward } from './kernels/conv2dForwardWasm';
import { registerWasmBatchMatMul, simdBatchMatMulFor } from './kernels/batchMatMulWasm';
import { simdKernelsFor } from './kernels/simdModule';
import { registerWasmUnsortedSegmentSum } from './kernels/unsortedSegmentSumWasm';
import { registerWasmAdam } from './kernels/adamWasm';
import { registerWasmAttention } from './kernels/attentionWasm';
import { registerWasmConcat } from './kernels/concatWasm';
import { registerWasmGroupNorm } from './kernels/groupNormWasm';
import { registerWasmChannelSum } from './kernels/channelSumWasm';
import { registerWasmSiluGrad } from './kernels/siluWasm';
import { installLeanGradientSaves } from './kernels/engineSaves';
import { registerWasmLinear } from './kernels/linearWasm';
import { registerWasmIdentity } from './kernels/identityWasm';

export type BackendName = 'webgpu' | 'wasm' | 'cpu';
export type BackendPreference = 'auto' | BackendName;

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  isFallback: boolean;
}

export interface BackendChoice {
  name: BackendName;
  /** One plain-English sentence for the UI: what was chosen and why. */
  reason: string;
  /** The WebGPU adapter that was found, when one was asked for; else null. */
  adapter: AdapterSummary | null;
  /** Backends that were tried and failed before `name`, in order. */
  tried: { name: BackendName; error: string }[];
  /** CPU threads wasm computes with (1 without the threaded build); null on webgpu and cpu. */
  threads: number | null;
  /**
   * On wasm: whether the hand-written SIMD kernel for batched products (attention) runs on the
   * backend's heap (kernels/batchMatMulWasm.ts); false where it cannot (the shipped kernel then
   * does the work); null on webgpu and cpu.
   */
  simd?: boolean | null;
  /**
   * On wasm: whether those kernels run their fused multiply-add module (relaxed SIMD, one FMA per
   * accumulation; kernels/simdModule.ts), which Chromium offers and older engines do not; null off wasm.
   */
  fma?: boolean | null;
}

export interface InitBackendOptions {
  preference?: BackendPreference;
  /** Limit for each requestAdapter / setBackend / ready, in ms. Default 20000. */
  timeoutMs?: number;
  /** Passed to setWasmPaths (prefix directory or file map) before wasm starts. */
  wasmPaths?: Record<string, string> | string;
  /**
   * Threads for wasm's threaded SIMD build (XNNPACK on a pool of web workers), which TF.js starts
   * only where it finds SharedArrayBuffer and wasm threads: in a browser, on a cross-origin-
   * isolated page (COOP + COEP headers). TF.js's own default is half the cores (one thread on
   * two); the worker passes every core when the page asks (`?threads=all`). Default 1: the
   * one-thread build (the studio by default, the CLIs and tests in Node).
   */
  wasmThreads?: number;
}

const DEFAULT_TIMEOUT_MS = 20_000;
/** Order of preference when the machine decides; webgpu only on hardware. */
const FALLBACK_ORDER: readonly BackendName[] = ['webgpu', 'wasm', 'cpu'];
const LABEL: Record<BackendName, string> = { webgpu: 'WebGPU', wasm: 'wasm', cpu: 'cpu' };

// ---------------------------------------------------------------- helpers

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Rejects with a clear message if `promise` has not settled within `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${what} did not finish within ${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s`));
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === 'string' && typeof (globalThis as { window?: unknown }).window === 'undefined';
}

/** The WebGPU entry point, if this environment has one. */
function gpuApi(): GPU | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu ?? undefined;
}

// ---------------------------------------------------------------- WebGPU probe

type ProbeStatus = 'missing' | 'no-adapter' | 'error' | 'fallback' | 'hardware';

interface Probe {
  status: ProbeStatus;
  adapter: AdapterSummary | null;
  /** Why WebGPU is not used by default, as a sentence fragment (not for 'hardware'). */
  sentence: string;
}

/** Shapes of GPUAdapter across Chrome versions: `info` (with isFallbackAdapter
 * since Chrome ~130), the older `adapter.isFallbackAdapter`, and the even older
 * `requestAdapterInfo()`. */
interface LooseAdapterInfo {
  vendor?: string;
  architecture?: string;
  description?: string;
  device?: string;
  isFallbackAdapter?: boolean;
}
interface LooseAdapter {
  info?: LooseAdapterInfo;
  isFallbackAdapter?: boolean;
  requestAdapterInfo?: () => Promise<LooseAdapterInfo>;
}

const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|software|basic render/i;

export function adapterLabel(a: AdapterSummary): string {
  if (a.description.trim() !== '') return a.description.trim();
  const parts = [a.vendor, a.architecture].map((s) => s.trim()).filter((s) => s !== '');
  return parts.length > 0 ? parts.join(' ') : 'unnamed adapter';
}

async function summariseAdapter(adapter: GPUAdapter, timeoutMs: number): Promise<AdapterSummary> {
  const loose = adapter as unknown as LooseAdapter;
  let info: LooseAdapterInfo | undefined = loose.info;
  if (info == null && typeof loose.requestAdapterInfo === 'function') {
    try {
      info = await withTimeout(loose.requestAdapterInfo(), timeoutMs, 'GPUAdapter.requestAdapterInfo()');
    } catch {
      info = undefined;
    }
  }
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const description = info?.description ?? '';
  const flagged = info?.isFallbackAdapter === true || loose.isFallbackAdapter === true;
  const named = SOFTWARE_ADAPTER.test(`${vendor} ${architecture} ${description} ${info?.device ?? ''}`);
  return { vendor, architecture, description, isFallback: flagged || named };
}

async function probeWebGPU(timeoutMs: number): Promise<Probe> {
  const gpu = gpuApi();
  if (gpu == null) {
    const where = isNode() ? 'in Node' : 'in this browser';
    return { status: 'missing', adapter: null, sentence: `No WebGPU ${where} (navigator.gpu missing)` };
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await withTimeout(
      gpu.requestAdapter({
        powerPreference: tf.env().getBool('WEBGPU_USE_LOW_POWER_GPU') ? 'low-power' : 'high-performance',
      }),
      timeoutMs,
      'navigator.gpu.requestAdapter()',
    );
  } catch (err) {
    return { status: 'error', adapter: null, sentence: `WebGPU adapter request failed: ${errorMessage(err)}` };
  }
  if (adapter == null) {
    return { status: 'no-adapter', adapter: null, sentence: 'WebGPU is present but offered no adapter' };
  }
  const summary = await summariseAdapter(adapter, timeoutMs);
  if (summary.isFallback) {
    return {
      status: 'fallback',
      adapter: summary,
      sentence: `WebGPU adapter is a software fallback (${adapterLabel(summary)}); wasm is faster here`,
    };
  }
  return { status: 'hardware', adapter: summary, sentence: `WebGPU on a hardware adapter (${adapterLabel(summary)})` };
}

// ---------------------------------------------------------------- starting one backend

async function setBackendOrThrow(name: BackendName, timeoutMs: number): Promise<void> {
  if (tf.findBackendFactory(name) == null) {
    throw new Error(`the ${LABEL[name]} backend is not registered with TF.js`);
  }
  const ok = await withTimeout(tf.setBackend(name), timeoutMs, `tf.setBackend('${name}')`);
  if (!ok) throw new Error(`tf.setBackend('${name}') reported failure (details in the console)`);
  await withTimeout(tf.ready(), timeoutMs, `tf.ready() for '${name}'`);
  if (tf.getBackend() !== name) {
    throw new Error(`TF.js reports backend '${tf.getBackend()}' after setBackend('${name}')`);
  }
}

let wasmPathsApplied = false;

/** Makes navigator.hardwareConcurrency read `cores` (an own property over the prototype's getter) until the returned function runs. */
function reportLogicalCores(cores: number): () => void {
  const nav = (globalThis as { navigator?: object }).navigator;
  if (nav == null || Object.prototype.hasOwnProperty.call(nav, 'hardwareConcurrency')) return () => {};
  try {
    Object.defineProperty(nav, 'hardwareConcurrency', { value: cores, configurable: true });
  } catch {
    return () => {};
  }
  return () => {
    delete (nav as { hardwareConcurrency?: number }).hardwareConcurrency;
  };
}

async function startBackend(name: BackendName, opts: Required<Pick<InitBackendOptions, 'timeoutMs'>> & InitBackendOptions): Promise<void> {
  switch (name) {
    case 'webgpu': {
      if (gpuApi() == null) throw new Error('navigator.gpu is missing');
      if (tf.findBackendFactory('webgpu') == null) {
        throw new Error('the WebGPU backend was not registered (navigator.gpu appeared after TF.js was loaded)');
      }
      await setBackendOrThrow('webgpu', opts.timeoutMs);
      return;
    }
    case 'wasm': {
      // The threaded build only where asked for (?threads=all); TF.js then still checks that
      // SharedArrayBuffer and wasm threads exist (a cross-origin-isolated page). (It once failed in a Vite build:
      // its pthread workers run the minified factory's source, which the minifier's compress
      // step had broken; vite.config.ts keeps compress off for workers.)
      const threads = Math.floor(opts.wasmThreads ?? 1);
      if (threads > 1) setThreadsCount(threads);
      else tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      // Gradient kernels: conv2d's filter gradient and UnsortedSegmentSum (the
      // gradient of tf.gather) are missing from the shipped wasm backend; the
      // shipped conv2d input gradient is replaced by a faster one.
      registerWasmConv2DBackpropFilter();
      registerWasmConv2DBackpropInput();
      registerWasmConv2DForward();
      registerWasmBatchMatMul();
      registerWasmUnsortedSegmentSum();
      registerWasmGroupNorm();
      registerWasmAttention();
      registerWasmAdam();
      registerWasmConcat();
      registerWasmChannelSum();
      registerWasmSiluGrad();
      registerWasmIdentity();
      registerWasmLinear();
      installLeanGradientSaves();
      if (opts.wasmPaths != null && !wasmPathsApplied && tf.engine().registry['wasm'] == null) {
        setWasmPaths(opts.wasmPaths as Parameters<typeof setWasmPaths>[0]);
        wasmPathsApplied = true;
      }
      // The wasm build caps its thread pool at navigator.hardwareConcurrency / 2 (it assumes two
      // hardware threads per core), read once when the module starts: one thread on a 2-core
      // machine. While it starts, the worker's navigator reports twice the threads asked for.
      const restore = threads > 1 ? reportLogicalCores(2 * threads) : () => {};
      try {
        await setBackendOrThrow('wasm', opts.timeoutMs);
      } finally {
        restore();
      }
      return;
    }
    case 'cpu': {
      await setBackendOrThrow('cpu', opts.timeoutMs);
      return;
    }
  }
}

// ---------------------------------------------------------------- public API

function composeReason(
  preference: BackendPreference,
  chosen: BackendName,
  tried: { name: BackendName; error: string }[],
  probe: Probe | null,
): string {
  const parts: string[] = [];
  if (preference !== 'auto') {
    const first = tried[0];
    if (first != null && first.name === preference) {
      parts.push(`You chose ${LABEL[preference]}, but it failed to start: ${first.error}`);
      for (const t of tried.slice(1)) parts.push(`${LABEL[t.name]} failed to start: ${t.error}`);
      parts.push(`using ${LABEL[chosen]}`);
    } else {
      let sentence = `You chose ${LABEL[chosen]}`;
      if (chosen === 'webgpu' && probe?.adapter != null) {
        sentence += probe.adapter.isFallback
          ? ` (adapter ${adapterLabel(probe.adapter)} is a software fallback; wasm is usually faster)`
          : ` (adapter ${adapterLabel(probe.adapter)})`;
      }
      parts.push(sentence);
    }
    return parts.join('; ');
  }

  if (chosen === 'webgpu' && probe != null) return probe.sentence;
  const webgpuTried = tried.some((t) => t.name === 'webgpu');
  if (!webgpuTried && probe != null) parts.push(probe.sentence);
  for (const t of tried) parts.push(`${LABEL[t.name]} failed to start: ${t.error}`);
  // "...; wasm is faster here" already says what was chosen.
  const saidAlready = probe?.status === 'fallback' && chosen === 'wasm' && tried.length === 0;
  if (!saidAlready) parts.push(`using ${LABEL[chosen]}`);
  return parts.join('; ');
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Chooses, initialises and activates a TF.js backend; see the file comment for
 * the rule. Calls are serialised. Throws only when no backend at all starts.
 */
export function initBackend(opts: InitBackendOptions = {}): Promise<BackendChoice> {
  const run = queue.then(() => initBackendNow(opts));
  queue = run.catch(() => undefined);
  return run;
}

async function initBackendNow(opts: InitBackendOptions): Promise<BackendChoice> {
  const preference: BackendPreference = opts.preference ?? 'auto';
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new Error(`initBackend: timeoutMs must be positive, got ${opts.timeoutMs}`);
  if (!['auto', ...FALLBACK_ORDER].includes(preference)) {
    throw new Error(`initBackend: unknown backend preference '${String(preference)}' (use auto, webgpu, wasm or cpu)`);
  }
  const startOpts = { ...opts, timeoutMs };

  // Probe WebGPU only when the answer matters: for 'auto', for an explicit
  // 'webgpu' (to report the adapter), or when an explicit choice failed.
  let probe: Probe | null = null;
  const getProbe = async (): Promise<Probe> => (probe ??= await probeWebGPU(timeoutMs));

  const tried: { name: BackendName; error: string }[] = [];

  const attempt = async (name: BackendName): Promise<boolean> => {
    try {
      await startBackend(name, startOpts);
      return true;
    } catch (err) {
      tried.push({ name, error: errorMessage(err) });
      return false;
    }
  };

  let chosen: BackendName | null = null;
  if (preference === 'webgpu') await getProbe();
  if (preference !== 'auto' && (await attempt(preference))) chosen = preference;

  if (chosen == null) {
    const p = await getProbe();
    // The machine's own order: webgpu only on a hardware adapter.
    for (const name of FALLBACK_ORDER) {
      if (name === preference) continue;
      if (name === 'webgpu' && p.status !== 'hardware') continue;
      if (await attempt(name)) {
        chosen = name;
        break;
      }
    }
  }

  if (chosen == null) {
    const detail = tried.map((t) => `${LABEL[t.name]}: ${t.error}`).join('; ');
    throw new Error(`No TF.js backend could start (${detail})`);
  }

  const threads = chosen === 'wasm' ? Math.max(1, getThreadsCount()) : null;
  const threadNote = threads === 1 && (opts.wasmThreads ?? 1) > 1 ? '; the threaded wasm build did not start, so one thread' : '';
  return {
    name: chosen,
    reason: composeReason(preference, chosen, tried, probe) + threadNote,
    adapter: (probe as Probe | null)?.adapter ?? null,
    tried,
    threads,
    simd: chosen === 'wasm' ? simdBatchMatMulFor(tf.backend()) != null : null,
    fma: chosen === 'wasm' ? simdKernelsFor(tf.backend())?.fused === true : null,
  };
}

/** The active TF.js backend's name ('none' before any backend is set). */
export function describeBackend(): string {
  return tf.getBackend() ?? 'none';
}
