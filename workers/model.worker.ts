// The model worker: owns TF.js and the checkpoint. A thin shell around src/core/service/
// modelService.ts (where every request is answered and every error mapped): the wasm binaries'
// URLs, the browser's image decoder, and the message loop.

import { WASM_PATHS } from './wasmPaths';

import { createModelService, dpoParityProbe, loseDevice } from '../src/core/service/modelService';
import type { HelperPort, HelperReply } from '../src/core/service/helperService';
import type { WorkerReply, WorkerRequest } from '../src/protocol';

// The DOM lib is the project's; these are the two members of the worker scope used here.
const scope = self as unknown as {
  postMessage(message: WorkerReply, transfer: Transferable[]): void;
  onmessage: ((event: MessageEvent<WorkerRequest | { kind: string; id: number }>) => void) | null;
};

/** PNG (or any image the browser reads) -> RGBA, through an offscreen canvas. */
async function decodeImage(blob: Blob): Promise<{ pixels: Uint8ClampedArray; width: number }> {
  const bitmap = await createImageBitmap(blob);
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2d context');
  ctx.drawImage(bitmap, 0, 0);
  return { pixels: ctx.getImageData(0, 0, bitmap.width, bitmap.height).data, width: bitmap.width };
}

const service = createModelService({
  post: (reply, transfer = []) => scope.postMessage(reply, transfer),
  wasmPaths: WASM_PATHS,
  decodeImage,
  // The threaded wasm build on every core where the page is cross-origin isolated (vite.config.ts
  // sends the headers) and the app asks for it (?threads=all); else one thread.
  wasmThreads: (self as { crossOriginIsolated?: boolean }).crossOriginIsolated === true ? navigator.hardwareConcurrency : 1,
  // A second core samples half of each SAIL round's candidates (wasm on one thread only).
  spawnHelper: navigator.hardwareConcurrency >= 2 ? spawnHelper : undefined,
});

function spawnHelper(): HelperPort {
  const worker = new Worker(new URL('./helper.worker.ts', import.meta.url), { type: 'module' });
  return {
    post: (req, transfer) => worker.postMessage(req, transfer),
    onReply: (cb) => (worker.onmessage = (e: MessageEvent<HelperReply>) => cb(e.data)),
    onFail: (cb) => (worker.onerror = (e: ErrorEvent) => cb(e.message || 'the helper worker could not start')),
    terminate: () => worker.terminate(),
  };
}

scope.onmessage = (event) => {
  const req = event.data;
  // Test hooks, compiled only into the e2e build: the production bundle has neither them nor
  // their names (scripts/check-bundle.mjs). 'lose-device' destroys the WebGPU device;
  // 'parity-probe' answers with one DPO step's numbers;
  // 'throw-soon' makes the worker really throw an uncaught error, as a crash mid-run would.
  if (import.meta.env.MODE === 'e2e') {
    if (req.kind === 'lose-device') return loseDevice();
    // 'parity-probe': one DPO step's loss and conv gradient, compared across backends by the test.
    if (req.kind === 'parity-probe') {
      const loaded = service.loaded();
      void (loaded ? dpoParityProbe(loaded) : Promise.reject(new Error('the model is not loaded yet'))).then(
        (probe) => scope.postMessage({ kind: 'parity-probe', id: req.id, ...probe, grad: Array.from(probe.grad) } as unknown as WorkerReply, []),
        (err: unknown) => scope.postMessage({ kind: 'parity-probe', id: req.id, error: String(err) } as unknown as WorkerReply, []),
      );
      return;
    }
    if (req.kind === 'throw-soon') {
      setTimeout(() => {
        throw new Error('a deliberate crash of the model worker (e2e test)');
      });
      return;
    }
  }
  void service.handle(req as WorkerRequest);
};
