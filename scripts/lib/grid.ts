// Tiles RGBA images into one grid image (for PNG output of the CLIs).
export function tileImages(images: Uint8ClampedArray[], size: number, columns: number, scale = 1, gap = 2): { width: number; height: number; rgba: Uint8Array } {
  const rows = Math.ceil(images.length / columns);
  const cell = size * scale;
  const width = columns * cell + (columns + 1) * gap;
  const height = rows * cell + (rows + 1) * gap;
  const rgba = new Uint8Array(width * height * 4).fill(255);
  images.forEach((img, i) => {
    const ox = gap + (i % columns) * (cell + gap);
    const oy = gap + Math.floor(i / columns) * (cell + gap);
    for (let y = 0; y < cell; y++) {
      for (let x = 0; x < cell; x++) {
        const src = (Math.floor(y / scale) * size + Math.floor(x / scale)) * 4;
        const dst = ((oy + y) * width + ox + x) * 4;
        for (let c = 0; c < 4; c++) rgba[dst + c] = img[src + c];
      }
    }
  });
  return { width, height, rgba };
}
