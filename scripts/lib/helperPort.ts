// A SAIL helper thread for `npm run sail` and `npm run eval --threads 2` (both cores): the port to
// a worker thread (helperThread.ts) that runs the same service as the browser's helper worker.
import { Worker } from 'node:worker_threads';
import type { HelperPort, HelperReply } from '../../src/core/service/helperService';

/** A helper thread behind a HelperPort (wasm on its own core). */
export function nodeHelperPort(): HelperPort {
  const worker = new Worker(new URL('./helperThread.mjs', import.meta.url));
  return {
    post: (req, transfer) => worker.postMessage(req, transfer as ArrayBuffer[]),
    onReply: (cb) => void worker.on('message', (r: HelperReply) => cb(r)),
    onFail: (cb) => {
      worker.on('error', (e) => cb(e.message));
      worker.on('exit', (code) => cb(`the helper thread exited (code ${code})`));
    },
    terminate: () => void worker.terminate(),
  };
}
