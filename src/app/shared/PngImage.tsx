import { useEffect, useMemo } from 'react';

/** A stored PNG shown at `scale` times its size, pixels kept sharp. */
export function PngImage({ png, alt, size = 32, scale = 2, testId }: { png: Uint8Array; alt: string; size?: number; scale?: number; testId?: string }) {
  const url = useMemo(() => URL.createObjectURL(new Blob([png as Uint8Array<ArrayBuffer>], { type: 'image/png' })), [png]);
  useEffect(() => () => URL.revokeObjectURL(url), [url]);
  return <img className="pixel" src={url} alt={alt} width={size * scale} height={size * scale} data-testid={testId} />;
}
