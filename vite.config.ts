import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const ISOLATION_HEADERS = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  // Relative asset URLs: the built studio works from any sub-path (and from a static file host).
  base: './',
  // No SPA fallback: a missing file (say, a checkpoint) is a 404, as on any static host.
  appType: 'mpa',
  plugins: [react()],
  worker: {
    format: 'es',
    rolldownOptions: { output: { minify: { compress: false } } },
  },
  build: {
    target: 'es2022',
    // The model worker bundles TF.js and its backends; that is expected, not a warning.
    chunkSizeWarningLimit: 4096,
  },
  // Cross-origin isolation (SharedArrayBuffer), which the threaded wasm build needs.
  preview: { port: 4173, strictPort: true, headers: ISOLATION_HEADERS },
  server: { port: 5173, headers: ISOLATION_HEADERS },
});
