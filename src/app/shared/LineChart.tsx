// A small SVG line chart: a few hundred points per run do not need a chart library. Points are
// drawn in step order across rounds; a dashed rule marks where each round starts. The point
// count is on the element (data-points) so a test can watch the chart grow.

import { memo } from 'react';

export interface ChartPoint {
  round: number;
  value: number;
}

const WIDTH = 320;
const HEIGHT = 120;
const PAD = { left: 40, right: 8, top: 8, bottom: 18 };

function niceRange(values: number[], fixed?: [number, number]): [number, number] {
  if (fixed) return fixed;
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  let low = Math.min(...finite);
  let high = Math.max(...finite);
  if (high - low < 1e-9) {
    low -= 0.5;
    high += 0.5;
  }
  const pad = (high - low) * 0.05;
  return [low - pad, high + pad];
}

const formatTick = (v: number) => (Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1) : v.toFixed(2));

/** `version` changes whenever `points` (appended in place by the run store) has grown. */
export const LineChart = memo(function LineChart({
  title,
  points,
  version,
  range,
  testId,
}: {
  title: string;
  points: readonly ChartPoint[];
  version: number;
  range?: [number, number];
  testId: string;
}) {
  void version; // only there to re-render when the shared array grows
  const values = points.map((p) => p.value);
  const [low, high] = niceRange(values, range);
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (points.length <= 1 ? plotW / 2 : (i / (points.length - 1)) * plotW);
  const y = (v: number) => PAD.top + plotH - ((Math.min(high, Math.max(low, v)) - low) / (high - low)) * plotH;
  // A non-finite value (a diverged step) breaks the line rather than drawing to the edge.
  const segments: string[] = [];
  let current: string[] = [];
  points.forEach((p, i) => {
    if (Number.isFinite(p.value)) current.push(`${x(i).toFixed(1)},${y(p.value).toFixed(1)}`);
    else if (current.length > 0) {
      segments.push(current.join(' '));
      current = [];
    }
  });
  if (current.length > 0) segments.push(current.join(' '));
  const roundStarts = points.flatMap((p, i) => (i > 0 && p.round !== points[i - 1].round ? [i] : []));
  const last = values.at(-1);

  return (
    <figure className="chart" data-testid={testId} data-points={points.length}>
      <figcaption>
        {title}
        {last !== undefined && <span className="muted"> · last {Number.isFinite(last) ? formatTick(last) : String(last)}</span>}
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`${title}: ${points.length} steps`}>
        <line className="axis" x1={PAD.left} x2={PAD.left} y1={PAD.top} y2={PAD.top + plotH} />
        <line className="axis" x1={PAD.left} x2={PAD.left + plotW} y1={PAD.top + plotH} y2={PAD.top + plotH} />
        <text className="tick" x={PAD.left - 4} y={PAD.top + 4} textAnchor="end">
          {formatTick(high)}
        </text>
        <text className="tick" x={PAD.left - 4} y={PAD.top + plotH} textAnchor="end">
          {formatTick(low)}
        </text>
        <text className="tick" x={PAD.left + plotW} y={HEIGHT - 4} textAnchor="end">
          {points.length > 0 ? `${points.length} steps` : 'no steps yet'}
        </text>
        {roundStarts.map((i) => (
          <line key={i} className="round-rule" x1={x(i)} x2={x(i)} y1={PAD.top} y2={PAD.top + plotH} />
        ))}
        {segments.map((s, i) =>
          s.includes(' ') ? <polyline key={i} className="series" points={s} /> : <circle key={i} className="series-dot" cx={s.split(',')[0]} cy={s.split(',')[1]} r={2} />,
        )}
      </svg>
    </figure>
  );
});
