// safetensors (huggingface/safetensors, format spec in its README): 8-byte little-endian
// unsigned header length N, then N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}}
// with an optional "__metadata__" of string values, then the raw little-endian tensor bytes.
// Offsets are relative to the end of the header. We write F32 only, names sorted, header padded
// with spaces to a multiple of 8 (as the reference writer does) so the data is aligned.

export interface RawTensor {
  dtype: 'F32';
  shape: number[];
  data: Float32Array;
}

export function writeSafetensors(tensors: Record<string, RawTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const expected = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== expected) throw new Error(`safetensors: "${name}" has ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + new TextEncoder().encode(json).length) % 8 !== 0) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  return out;
}

export function readSafetensors(bytes: ArrayBuffer | Uint8Array): { tensors: Record<string, RawTensor>; metadata: Record<string, string> } {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const fail = (why: string): never => {
    throw new Error(`model.safetensors is not a valid safetensors file: ${why}`);
  };
  if (u8.byteLength < 8) fail('shorter than its 8-byte header length');
  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > u8.byteLength - 8 || headerLength > 100_000_000) fail(`header length ${headerLength} exceeds the file`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(u8.subarray(8, 8 + headerLength)));
  } catch {
    return fail('header is not JSON');
  }
  const dataStart = 8 + headerLength;
  const dataLength = u8.byteLength - dataStart;
  const tensors: Record<string, RawTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (e.dtype !== 'F32') fail(`"${name}" has dtype ${e.dtype}; only F32 is supported`);
    if (!Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) fail(`"${name}" lacks shape or data_offsets`);
    const [begin, end] = e.data_offsets!;
    const size = e.shape!.reduce((a, b) => a * b, 1);
    if (begin < 0 || end > dataLength || end - begin !== size * 4) fail(`"${name}" offsets [${begin}, ${end}] do not fit shape [${e.shape}]`);
    // Copy: the source offset need not be 4-byte aligned, and the caller may reuse the buffer.
    const data = new Float32Array(size);
    new Uint8Array(data.buffer).set(u8.subarray(dataStart + begin, dataStart + end));
    tensors[name] = { dtype: 'F32', shape: e.shape!, data };
  }
  return { tensors, metadata };
}
