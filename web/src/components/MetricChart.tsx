import { useEffect, useRef } from 'preact/hooks';
import type uPlot from 'uplot';
import { api, call, type Schemas } from '../api';
import { useLoad } from '../hooks';
import { ProblemAlert } from './ui';

type Series = Schemas['MetricSeriesResponseDto'];

/** One metric of one VM over [from, to): uPlot line of the bucket averages, with a text summary. */
export function MetricChart(props: { vmId: string; name: string; label: string; unit: string; from: string; to: string }) {
  const { vmId, name, from, to } = props;
  const series = useLoad(
    (signal) => call(api.GET('/api/vms/{id}/metrics', { params: { path: { id: vmId }, query: { name, from, to } }, signal })),
    [vmId, name, from, to],
  );
  const points = series.data?.points ?? [];
  const latest = points.at(-1);
  const peak = points.reduce((m, p) => Math.max(m, p.max), -Infinity);
  const captionId = `chart-${name}`;
  return (
    <figure class="chart" aria-labelledby={captionId}>
      <figcaption id={captionId}>
        <strong>{props.label}</strong>{' '}
        <span class="muted">
          {latest
            ? `latest ${round(latest.avg)} ${props.unit}, peak ${round(peak)} ${props.unit}`
            : series.loading
              ? 'loading…'
              : 'no samples in this range'}
        </span>
      </figcaption>
      <ProblemAlert problem={series.problem} />
      {series.data && <Plot series={series.data} unit={props.unit} label={props.label} from={from} to={to} />}
    </figure>
  );
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

function Plot({ series, unit, label, from, to }: { series: Series; unit: string; label: string; from: string; to: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    let cancelled = false;
    let cleanup = () => {};
    // uPlot is loaded with the first chart (its own chunk), not with every page.
    void import('uplot').then(({ default: UPlot }) => {
      if (!cancelled) cleanup = draw(UPlot, el);
    });
    return () => {
      cancelled = true;
      cleanup();
    };
  }, [series, unit, label, from, to]);
  return <div ref={box} class="plot" role="img" aria-label={`${label} over time in ${unit}: ${series.points.length} points`} />;

  function draw(UPlot: typeof uPlot, el: HTMLDivElement): () => void {
    const xs = series.points.map((p) => Date.parse(p.t) / 1000);
    const data: uPlot.AlignedData = [xs, series.points.map((p) => p.avg), series.points.map((p) => p.max)];
    const plot = new UPlot(
      {
        width: el.clientWidth || 300,
        height: 180,
        scales: {
          x: { time: true, range: [Date.parse(from) / 1000, Date.parse(to) / 1000] },
          y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] },
        },
        axes: [{}, { label: unit, size: 56 }],
        legend: { show: false },
        series: [
          {},
          { label: `${label} (avg)`, stroke: '#1d4ed8', width: 2, points: { show: xs.length < 3 } },
          { label: `${label} (max)`, stroke: '#94a3b8', width: 1, dash: [4, 4] },
        ],
      },
      data,
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height: 180 }));
    resize.observe(el);
    return () => (resize.disconnect(), plot.destroy());
  }
}
