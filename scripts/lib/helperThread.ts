// The body of a SAIL helper thread (entry: helperThread.mjs; port: helperPort.ts): the service the
// browser's helper worker runs (src/core/service/helperService.ts), over worker_threads, on wasm.
import { parentPort } from 'node:worker_threads';
import { createHelperService, type HelperRequest } from '../../src/core/service/helperService';
import { initNodeBackend } from './nodeBackend';

const port = parentPort!;
const ready = initNodeBackend('wasm');
const service = createHelperService({ post: (reply, transfer = []) => port.postMessage(reply, transfer as ArrayBuffer[]), backend: 'current' });
port.on('message', (req: HelperRequest) => void ready.then(() => service.handle(req)));
