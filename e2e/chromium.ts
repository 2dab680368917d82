// How the e2e tests start Chromium (architecture.md section 8). Shared by playwright.config.ts and
// the spec that launches its own browser without WebGPU.

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Flags for a quiet, reproducible headless Chromium, WebGPU left out. */
export const BASE_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Headless Chromium here then offers WebGPU on SwiftShader, a software fallback adapter. */
export const WEBGPU_ARGS = [...BASE_ARGS, '--enable-unsafe-webgpu'];
