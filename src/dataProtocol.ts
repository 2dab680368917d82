// The messages between the app and workers/data.worker.ts, which reads uploaded pairs files off
// the main thread. Types only, like src/protocol.ts.

import type { PairLineError } from './core/data/pairs';

/** Read a pairs file (a zip with pairs.jsonl, or the JSON variant with data URLs). */
export interface ParsePairsRequest {
  kind: 'parse-pairs';
  id: number;
  /** Read inside the worker: the page never holds its bytes. */
  file: File;
  /** Side of the square images the model takes. */
  imageSize: number;
}

export interface ParseProgressReply {
  kind: 'progress';
  id: number;
  /** Distinct images decoded so far, of `total`. */
  done: number;
  total: number;
}

/** A good line of the file, its images as PNG bytes at imageSize x imageSize (RGB, on white). */
export interface ParsedPairMessage {
  caption: string;
  label0: 0 | 0.5 | 1;
  image0: Uint8Array;
  image1: Uint8Array;
  /** Its line in the file (the index in the JSON array). */
  line: number;
}

export interface ParsedPairsReply {
  kind: 'parsed';
  id: number;
  pairs: ParsedPairMessage[];
  /** Every rejected line with its reason; line 0 = the file itself (then there are no pairs). */
  errors: PairLineError[];
}

export interface DataErrorReply {
  kind: 'error';
  id: number;
  message: string;
}

export type DataWorkerReply = ParseProgressReply | ParsedPairsReply | DataErrorReply;
