/**
 * ReportData → one self-contained HTML page: inline CSS, every chart an inline SVG, no script and
 * nothing fetched at view time, so the file opens from disk in any browser.
 */
import { writeFileAtomic } from '../../io/files.js';
import { VERSION } from '../../version.js';
import { human } from '../render.js';
import { SOFTWARE_RENDERING_NOTE } from '../../bench/runtime.js';
import { benchSpec, curveSpec, gammaHistogramSpec, layerBarsSpec, sweepSpec, type CurveMetric } from './charts.js';
import type { GammaData, LayerFigures, ReportData, SummaryData } from './data.js';
import { logDomain, logHistogram } from './gammas.js';
import { renderSvg } from './svg.js';

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A chart as a figure; `id` names it for tests and for links. */
function figure(id: string, svg: string, caption?: string): string {
  return `<figure class="chart" id="${id}">${svg}${caption ? `<figcaption>${escapeHtml(caption)}</figcaption>` : ''}</figure>`;
}

function absent(text: string): string {
  return `<p class="absent">${escapeHtml(text)}</p>`;
}

function pct(x: number | undefined): string {
  return x === undefined ? '–' : `${(x * 100).toFixed(2)}%`;
}

function summaryHtml(summary: SummaryData): string {
  const rows = summary.stages
    .map(
      (s) =>
        `<tr><th scope="row">${escapeHtml(s.stage)}</th><td>${human(s.params)}</td><td>${human(s.macs)}</td><td>${human(s.flops)}</td>` +
        `<td>${pct(s.accuracy)}${s.atChance ? ' <strong class="chance" title="every example one class, or within a few points of guessing">at chance level</strong>' : ''}</td><td class="path">${escapeHtml(s.model ?? '')}</td></tr>`,
    )
    .join('\n');
  const facts: [string, string][] = [];
  if (summary.reduction) {
    const r = summary.reduction;
    facts.push(['removed', `params ${pct(r.params)}, MACs ${pct(r.macs)}, FLOPs ${pct(r.flops)}`]);
  }
  if (summary.theoreticalSpeedup !== undefined)
    facts.push(['theoretical speed-up (MACs before / after)', `${summary.theoreticalSpeedup.toFixed(2)}×`]);
  facts.push(['realised speed-up (measured)', realisedText(summary)]);
  if (summary.prune) {
    const p = summary.prune;
    facts.push([
      'pruning',
      `${p.prunedChannels} of ${p.candidateChannels} candidate channels removed (threshold ${p.threshold.toPrecision(3)}` +
        `${p.ratio !== null ? `, ratio ${p.ratio}` : ''})`,
    ]);
  }
  facts.push(...summary.facts);
  const dl = facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('');
  return (
    `<table class="summary"><thead><tr><th>stage</th><th>params</th><th>MACs</th><th>FLOPs</th><th>test accuracy</th><th>model</th></tr></thead>` +
    `<tbody>${rows}</tbody></table><dl>${dl}</dl><p class="note">${escapeHtml(summary.convention)}</p>`
  );
}

/** Each measured runtime and batch: the paired speed-up, its spread and the share of the MACs saving it delivers. */
function realisedText(summary: SummaryData): string {
  const rows = summary.bench?.rows.filter((r) => r.speedup !== null) ?? [];
  if (rows.length === 0) return summary.realisedSpeedup !== undefined ? `${summary.realisedSpeedup.toFixed(2)}×` : 'not measured';
  const parts = rows.map(
    (r) =>
      `${r.runtime} batch ${r.batch}: ${r.speedup!.toFixed(2)}× (p10–p90 ${r.speedupP10!.toFixed(2)}–${r.speedupP90!.toFixed(2)}×` +
      `${r.realisedOverMacs !== null ? `, ${r.realisedOverMacs.toFixed(2)} of the MACs saving` : ''})${r.software ? ` [${SOFTWARE_RENDERING_NOTE}]` : ''}`,
  );
  return `${parts.join('; ')} — exported slim model against the exported input, ${summary.bench!.runs} interleaved runs each`;
}

async function benchHtml(data: ReportData): Promise<string> {
  const rows = data.summary.bench?.rows.filter((r) => r.speedup !== null) ?? [];
  if (rows.length === 0) return '';
  const chart = figure(
    'bench-speedup',
    await renderSvg(benchSpec(rows, data.summary.bench!.macsSpeedup)),
    'Realised speed-up (median of the paired runs, bar; p10–p90, line) per runtime and batch size; the dashed rule is the MACs reduction.',
  );
  return `<section id="speed"><h2>Measured speed</h2><div class="grid">${chart}</div></section>`;
}

async function gammaHtml(gammas: GammaData): Promise<string> {
  const sets = (['after', 'before'] as const).filter((key) => (gammas[key]?.values.length ?? 0) > 0);
  if (sets.length === 0)
    return absent('No |γ| to show: the model has no BatchNormalization scale over prunable channels, or its weights were not available.');
  const domain = logDomain(
    sets.map((key) => gammas[key]!.values),
    gammas.threshold,
  );
  const parts: string[] = [];
  for (const key of sets) {
    const set = gammas[key]!;
    const cut = gammas.threshold !== undefined && gammas.cutSet === key;
    const hist = logHistogram(set.values, domain, gammas.threshold);
    const notes: string[] = [];
    if (set.aggregated > 0) {
      notes.push(
        `${set.aggregated} channels are scored by several BatchNormalization layers; their value is the ${gammas.importance ?? 'sum'} of those |γ|.`,
      );
    }
    if (hist.belowDomain > 0) notes.push(`${hist.belowDomain} channels below ${domain[0]} (or exactly 0) are counted in the leftmost bin.`);
    if (gammas.threshold !== undefined && !cut) notes.push('The threshold is drawn for reference; it was computed on another model.');
    if (sets.length > 1 && key === 'before') notes.push('Same axis as the chart above.');
    const spec = gammaHistogramSpec(set, hist, gammas.threshold, { title: set.title, cut });
    parts.push(figure(`gamma-${key}`, await renderSvg(spec), notes.join(' ')));
  }
  return parts.join('\n');
}

async function layersHtml(layers: readonly LayerFigures[]): Promise<string> {
  const prunable = layers.filter((l) => l.prunable);
  const computing = layers.filter((l) => (l.macs.before ?? 0) > 0 || l.macs.after > 0);
  const parts: string[] = [];
  if (prunable.length > 0)
    parts.push(figure('layer-channels', await renderSvg(layerBarsSpec(prunable, 'channels', 'Output channels per prunable layer'))));
  else parts.push(absent('No prunable layer (no channels scored by BatchNormalization).'));
  if (computing.length > 0) {
    parts.push(figure('layer-params', await renderSvg(layerBarsSpec(computing, 'params', 'Parameters per layer'))));
    parts.push(figure('layer-macs', await renderSvg(layerBarsSpec(computing, 'macs', 'MACs per layer'))));
  }
  return parts.join('\n');
}

async function curvesHtml(data: ReportData): Promise<string> {
  if (data.curves.every((c) => c.epochs.length === 0)) {
    return absent(
      'No training log: `slim report --html` draws the curves from a run folder or from --log train-log.jsonl / finetune-log.jsonl.',
    );
  }
  const metrics: CurveMetric[] = ['loss', 'accuracy', 'gammaSum', 'gammaBelow'];
  const figures = await Promise.all(metrics.map(async (m) => figure(`curve-${m}`, await renderSvg(curveSpec(data.curves, m)))));
  return `<div class="grid">${figures.join('\n')}</div>`;
}

async function sweepHtml(data: ReportData): Promise<string> {
  if (!data.sweep || data.sweep.length === 0) return '';
  const byRatio = figure('sweep-ratio', await renderSvg(sweepSpec(data.sweep, 'ratio', data.sweepSplit)));
  const byMacs = figure('sweep-macs', await renderSvg(sweepSpec(data.sweep, 'macs', data.sweepSplit)));
  return `<section id="sweep"><h2>Sweep</h2><div class="grid">${byRatio}\n${byMacs}</div></section>`;
}

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1280px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:24px}h2{margin:32px 0 12px;font-size:19px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#555;margin:0 0 16px}
table.summary{border-collapse:collapse;background:#fff}
table.summary th,table.summary td{border:1px solid #ddd;padding:4px 10px;text-align:right}
table.summary th[scope=row],table.summary td.path{text-align:left}table.summary td.path{color:#666;font-size:12px}
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px;margin:16px 0}dt{color:#555}dd{margin:0}
.note,.absent,figcaption{color:#666;font-size:13px}
figure.chart{display:inline-block;margin:0 16px 16px 0;background:#fff;padding:8px;border:1px solid #eee;max-width:100%;overflow-x:auto;vertical-align:top}
figure.chart svg{display:block;max-width:none;height:auto}
figcaption{max-width:600px;margin-top:4px}
.grid{display:flex;flex-wrap:wrap}
footer{margin-top:32px;color:#888;font-size:12px}
`;

/** The whole page as text. */
export async function renderHtmlReport(data: ReportData): Promise<string> {
  const sections = [
    `<section id="summary"><h2>Summary</h2>${summaryHtml(data.summary)}</section>`,
    `<section id="gamma"><h2>Distribution of |γ| (BatchNormalization scale) over prunable channels</h2>${await gammaHtml(data.gammas)}</section>`,
    `<section id="layers"><h2>Per layer, before → after</h2>${await layersHtml(data.layers)}</section>`,
    `<section id="curves"><h2>Training curves</h2>${await curvesHtml(data)}</section>`,
    await benchHtml(data),
    await sweepHtml(data),
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(data.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>slim report</h1>
<p class="sub">${escapeHtml(data.title)}</p>
${sections.filter((s) => s !== '').join('\n')}
<footer>Written by slim ${escapeHtml(VERSION)}. Charts drawn with Vega-Lite.</footer>
</main>
</body>
</html>
`;
}

/** Where a rendered page goes: a file (written atomically) or the caller's sink (the CLI's stdout for `--html -`). */
export type HtmlTarget = string | ((html: string) => void);

/** Renders the report and hands it to `target` (a file is written atomically: a reader never sees half a page). */
export async function writeHtmlReport(target: HtmlTarget, data: ReportData): Promise<void> {
  const html = await renderHtmlReport(data);
  if (typeof target === 'string') await writeFileAtomic(target, html);
  else target(html);
}
