import { useEffect, useRef } from 'react';

/** RGBA bytes from the worker drawn 1:1 on a canvas (CSS scales it, pixels kept sharp). */
export function RgbaCanvas({ rgba, size, label, testId }: { rgba: Uint8ClampedArray; size: number; label: string; testId?: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const context = ref.current?.getContext('2d');
    context?.putImageData(new ImageData(rgba as Uint8ClampedArray<ArrayBuffer>, size, size), 0, 0);
  }, [rgba, size]);
  return <canvas ref={ref} width={size} height={size} role="img" aria-label={label} data-testid={testId} />;
}
