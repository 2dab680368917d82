// The helper worker: samples and scores half of a SAIL round's candidates on another core for the
// model worker that started it (src/core/service/helperService.ts holds every line of its logic).

import { WASM_PATHS } from './wasmPaths';

import { createHelperService, type HelperReply, type HelperRequest } from '../src/core/service/helperService';

const scope = self as unknown as {
  postMessage(message: HelperReply, transfer: Transferable[]): void;
  onmessage: ((event: MessageEvent<HelperRequest>) => void) | null;
};

const service = createHelperService({
  post: (reply, transfer = []) => scope.postMessage(reply, transfer),
  wasmPaths: WASM_PATHS,
});

scope.onmessage = (event) => void service.handle(event.data);
