/**
 * Vega-Lite spec → SVG text, in Node without a browser or canvas: Vega's scenegraph renders SVG
 * strings itself (text widths are estimated when no canvas module is installed).
 * The libraries load on first use, so commands that draw nothing do not pay for them.
 */
import type { TopLevelSpec } from 'vega-lite';

let counter = 0;

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return uniqueIds(svg, `c${++counter}`);
  } finally {
    view.finalize();
  }
}

/**
 * Vega numbers clip paths and gradients from 1 in every SVG; several SVGs inline in one page
 * would share those ids, so each chart's ids get their own prefix.
 */
function uniqueIds(svg: string, prefix: string): string {
  return svg
    .replace(/id="([^"]+)"/g, `id="${prefix}-$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`)
    .replace(/href="#([^"]+)"/g, `href="#${prefix}-$1"`);
}
