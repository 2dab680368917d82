// Pairs as Parquet in the Pick-a-Pic v2 layout, for trainers larger than the studio: Hugging Face
// `datasets` reads the file as it is, and diffusers' examples/research_projects/diffusion_dpo/
// train_diffusion_dpo.py reads exactly these columns (caption, jpg_0, jpg_1, label_0; label_1 for
// completeness). The image columns hold the encoded image file: PNG here (lossless; PIL, which the
// trainer opens them with, tells the format from the bytes, not from the column's name).
//
// Written with hyparquet-writer (pure JavaScript, no WebAssembly, works in a page and in Node).

import { parquetWriteBuffer } from 'hyparquet-writer';
import type { ImageRGB, PairRecord } from './pairs';

/** The columns, in order. `source` (seed | upload | self) is ours; trainers ignore extra columns. */
export const PICK_A_PIC_COLUMNS = ['caption', 'jpg_0', 'jpg_1', 'label_0', 'label_1', 'source'] as const;

/**
 * One row per pair: label_0 = 1 when image 0 is preferred, 0 when image 1 is, 0.5 for a tie
 * (Pick-a-Pic keeps ties as 0.5 / 0.5; a trainer that wants strict preferences drops them).
 */
export function writePairsParquet(pairs: readonly PairRecord[], encodePng: (image: ImageRGB) => Uint8Array): Uint8Array {
  // An empty byte-array column comes out with a schema readers refuse; an empty export says so instead.
  if (pairs.length === 0) throw new Error('there are no pairs to export');
  const buffer = parquetWriteBuffer({
    columnData: [
      { name: 'caption', data: pairs.map((p) => p.caption), type: 'STRING', nullable: false },
      // The images barely compress; stored, so any reader can take them without a codec.
      { name: 'jpg_0', data: pairs.map((p) => encodePng(p.image0)), type: 'BYTE_ARRAY', nullable: false, codec: 'UNCOMPRESSED' },
      { name: 'jpg_1', data: pairs.map((p) => encodePng(p.image1)), type: 'BYTE_ARRAY', nullable: false, codec: 'UNCOMPRESSED' },
      { name: 'label_0', data: Float64Array.from(pairs, (p) => p.label0), type: 'DOUBLE', nullable: false },
      { name: 'label_1', data: Float64Array.from(pairs, (p) => 1 - p.label0), type: 'DOUBLE', nullable: false },
      { name: 'source', data: pairs.map((p) => p.source), type: 'STRING', nullable: false },
    ],
    // Image bytes in the min/max statistics would only bloat the footer.
    statistics: false,
    createdBy: 'SAIL Studio (hyparquet-writer)',
  });
  return new Uint8Array(buffer);
}
