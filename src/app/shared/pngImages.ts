// Images between the worker (RGBA bytes), IndexedDB (PNG bytes, RGB) and the page. PNG encoding
// is the core's own (pure TypeScript); decoding uses the browser's image decoder off the main
// thread (createImageBitmap), without colour conversion, so stored pixels come back unchanged.

import type { ImageRGB } from '../../core/data/pairs';
import { encodePng } from '../../core/data/png';

/** RGBA (alpha ignored: the model's images are opaque) -> RGB PNG bytes. */
export function rgbaToPng(rgba: ArrayBuffer | Uint8ClampedArray, size: number): Uint8Array {
  const src = rgba instanceof Uint8ClampedArray ? rgba : new Uint8ClampedArray(rgba);
  const rgb = new Uint8Array(size * size * 3);
  for (let i = 0, j = 0; i < size * size; i++, j += 4) {
    rgb[i * 3] = src[j];
    rgb[i * 3 + 1] = src[j + 1];
    rgb[i * 3 + 2] = src[j + 2];
  }
  return encodePng({ width: size, height: size, data: rgb });
}

/** PNG bytes -> RGBA as the browser decodes them. */
export async function pngToRgba(png: Uint8Array): Promise<{ width: number; height: number; data: Uint8ClampedArray }> {
  const bitmap = await createImageBitmap(new Blob([png as Uint8Array<ArrayBuffer>], { type: 'image/png' }), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d', { willReadFrequently: true });
    if (!context) throw new Error('This browser cannot draw images offscreen.');
    context.drawImage(bitmap, 0, 0);
    return { width: bitmap.width, height: bitmap.height, data: context.getImageData(0, 0, bitmap.width, bitmap.height).data };
  } finally {
    bitmap.close();
  }
}

/** PNG bytes -> the RGB record the trainer and the pairs export take. */
export async function pngToRgb(png: Uint8Array): Promise<ImageRGB> {
  const { width, height, data } = await pngToRgba(png);
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    rgb[i * 3] = data[i * 4];
    rgb[i * 3 + 1] = data[i * 4 + 1];
    rgb[i * 3 + 2] = data[i * 4 + 2];
  }
  return { width, height, data: rgb };
}

/** Starts a download of `bytes` as `name` (a Blob URL, revoked once the click has been handled). */
export function download(bytes: Uint8Array, name: string, type = 'application/zip'): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A file name from user text: letters, digits, dashes only. */
export const fileStem = (text: string) => text.trim().replace(/[^\p{L}\p{N}]+/gu, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'project';
