// The data worker: reads an uploaded pairs file off the main thread. A thin switch over
// src/core/data/pairs.ts; only the image decoder is the browser's (createImageBitmap +
// OffscreenCanvas, without colour conversion so the pixels are the file's).

import { parsePairsBytes, PAIRS_LIMITS, type ImageDecoder, type ParsedPairs } from '../src/core/data/pairs';
import { encodePng } from '../src/core/data/png';
import type { DataWorkerReply, ParsePairsRequest } from '../src/dataProtocol';

const scope = self as unknown as {
  postMessage(message: DataWorkerReply, transfer: Transferable[]): void;
  onmessage: ((event: MessageEvent<ParsePairsRequest>) => void) | null;
};

const decodeImage: ImageDecoder = async (bytes) => {
  const bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d', { willReadFrequently: true });
    if (!context) throw new Error('this browser cannot draw images in a worker');
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
    return { width: bitmap.width, height: bitmap.height, data: new Uint8Array(data.buffer) };
  } finally {
    bitmap.close();
  }
};

async function parse(req: ParsePairsRequest): Promise<ParsedPairs> {
  const { file, imageSize } = req;
  // Checked again here (the page checks first): nothing larger is read into memory.
  if (file.size > PAIRS_LIMITS.maxFileBytes) {
    return { pairs: [], errors: [{ line: 0, reason: `the file is larger than ${PAIRS_LIMITS.maxFileBytes / 2 ** 20} MiB` }] };
  }
  const bytes = new Uint8Array(await file.arrayBuffer());
  const onProgress = (done: number, total: number) => scope.postMessage({ kind: 'progress', id: req.id, done, total }, []);
  return parsePairsBytes(bytes, file.name, decodeImage, { imageSize, onProgress });
}

scope.onmessage = (event) => {
  const req = event.data;
  parse(req).then(
    ({ pairs, errors }) => {
      const out = pairs.map((p) => ({ caption: p.caption, label0: p.label0, image0: encodePng(p.image0), image1: encodePng(p.image1), line: p.line ?? 0 }));
      scope.postMessage({ kind: 'parsed', id: req.id, pairs: out, errors }, out.flatMap((p) => [p.image0.buffer, p.image1.buffer]));
    },
    (err: unknown) => scope.postMessage({ kind: 'error', id: req.id, message: err instanceof Error ? err.message : String(err) }, []),
  );
};
