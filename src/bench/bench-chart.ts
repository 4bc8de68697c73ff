import { existsSync } from 'node:fs';
import type { LatencyPoint } from './e2e-stage.js';

/**
 * Commit->ack latency over the paced run as a PNG: one point per erasure and sink (x: seconds
 * since the load began, at the commit; y: seconds to the sink's last ack of it), the goals as
 * rules. vega-lite compiles the spec, vega renders SVG without a canvas, resvg rasterizes it.
 */
const DEJAVU = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';

export async function latencyPng(points: readonly LatencyPoint[], title: string): Promise<Buffer> {
  const vl = await import('vega-lite');
  const vega = await import('vega');
  const { Resvg } = await import('@resvg/resvg-js');
  const font = existsSync(DEJAVU) ? 'DejaVu Sans' : 'sans-serif';
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 900,
    height: 400,
    config: { font, background: 'white' },
    layer: [
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 12, opacity: 0.6 },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'seconds since the paced load began (commit time)' },
          y: { field: 'seconds', type: 'quantitative', title: 'commit -> ack (s)' },
          color: { field: 'sink', type: 'nominal', title: 'sink' },
        },
      },
      {
        data: { values: [{ y: 0.5, goal: 'p50 goal 0.5 s' }, { y: 2, goal: 'p99 goal 2 s' }] },
        mark: { type: 'rule', strokeDash: [6, 4], color: '#888' },
        encoding: { y: { field: 'y', type: 'quantitative' } },
      },
    ],
  };
  const compiled = vl.compile(spec as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, { font: { loadSystemFonts: true, ...(existsSync(DEJAVU) ? { fontFiles: [DEJAVU], defaultFontFamily: 'DejaVu Sans' } : {}) } }).render().asPng();
  return Buffer.from(png);
}
