import { useEffect, useRef } from 'react';

import { useStudio } from '../studio/studioStore';

/** One RGBA image on a canvas (also the Label tab's pair images). */
export function ImageCanvas({ rgba, size, label, className = 'image', testId = 'generated-image' }: { rgba: Uint8ClampedArray; size: number; label: string; className?: string; testId?: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const context = ref.current?.getContext('2d');
    if (!context) return;
    // ImageData wants a Uint8ClampedArray over a plain ArrayBuffer; the worker transferred one.
    context.putImageData(new ImageData(rgba as Uint8ClampedArray<ArrayBuffer>, size, size), 0, 0);
  }, [rgba, size]);
  return <canvas ref={ref} width={size} height={size} className={className} role="img" aria-label={label} data-testid={testId} />;
}

export function ImageGrid() {
  const result = useStudio((s) => s.result);

  return (
    <section className="panel results" aria-label="Images">
      {!result ? (
        <p className="muted empty">Generated images appear here.</p>
      ) : (
        <>
          <p className="result-info" data-testid="result-info" data-ms={Math.round(result.ms)} data-backend={result.backend}>
            <span className="result-prompt">“{result.prompt}”</span>{' '}
            <span className="muted">
              {result.images.length} image{result.images.length === 1 ? '' : 's'}, seed {result.seed}, guidance {result.guidance},{' '}
              {result.steps} steps: {Math.round(result.ms)} ms on {result.backend} ({Math.round(result.ms / result.images.length)} ms
              per image)
            </span>
          </p>
          <div className="grid" data-testid="image-grid">
            {result.images.map((rgba, i) => (
              <ImageCanvas
                key={i}
                rgba={rgba}
                size={result.size}
                label={`Image ${i + 1} of ${result.images.length} for “${result.prompt}”`}
              />
            ))}
          </div>
        </>
      )}
    </section>
  );
}
