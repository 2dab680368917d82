// Uploading a pairs file: the size is checked from file.size before anything is read, the file
// is parsed in a fresh data worker (ended afterwards, so a large upload's memory goes with it),
// and the good pairs are stored in one transaction: all of them or none.

import type { PairLineError } from '../../core/data/pairs';
import type { DataWorkerReply, ParsePairsRequest } from '../../dataProtocol';

/** Larger files are refused before they are read (the parser's own limit, architecture.md section 6). */
export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;

export interface ParsedUpload {
  pairs: { caption: string; label0: 0 | 0.5 | 1; image0: Uint8Array; image1: Uint8Array; line: number }[];
  /** Line 0 = the file as a whole. */
  errors: PairLineError[];
}

export function formatMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Why a file is refused before reading it, or null. */
export function refuseBeforeReading(file: File): string | null {
  if (file.size > MAX_UPLOAD_BYTES) {
    return `${file.name} is ${formatMiB(file.size)}; the limit is ${formatMiB(MAX_UPLOAD_BYTES)}. Split it into smaller zips and upload them one by one.`;
  }
  if (file.size === 0) return `${file.name} is empty.`;
  return null;
}

const createDataWorker = () => new Worker(new URL('../../../workers/data.worker.ts', import.meta.url), { type: 'module', name: 'data' });

export class UploadCancelled extends Error {
  constructor() {
    super('The upload was cancelled; nothing was added.');
    this.name = 'UploadCancelled';
  }
}

/**
 * Parses `file` in a data worker; rejects only if the worker itself fails, or with
 * UploadCancelled once `signal` aborts (the worker is ended at once).
 */
export function parsePairsFile(file: File, imageSize: number, onProgress?: (done: number, total: number) => void, signal?: AbortSignal): Promise<ParsedUpload> {
  return new Promise((resolve, reject) => {
    const worker = createDataWorker();
    const onAbort = () => {
      worker.terminate();
      reject(new UploadCancelled());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const finish = () => {
      signal?.removeEventListener('abort', onAbort);
      worker.terminate();
    };
    worker.onmessage = (event: MessageEvent<DataWorkerReply>) => {
      const reply = event.data;
      if (reply.kind === 'progress') return onProgress?.(reply.done, reply.total);
      finish();
      if (reply.kind === 'parsed') resolve({ pairs: reply.pairs, errors: reply.errors });
      else reject(new Error(`The file could not be read: ${reply.message}`));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      finish();
      reject(new Error(`The file reader stopped${event.message ? ` (${event.message})` : ''}; the browser may be out of memory. Try a smaller file.`));
    };
    const request: ParsePairsRequest = { kind: 'parse-pairs', id: 1, file, imageSize };
    worker.postMessage(request);
  });
}
