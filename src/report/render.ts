/**
 * Turns counts (src/report/count.ts) into the report document (--json) and a text table.
 * Convention, stated in every report: one MAC is one multiply-accumulate; FLOPs = 2 × MACs.
 */
import type { LayerCount, ModelCount } from './count.js';

export const FLOPS_CONVENTION =
  'FLOPs = 2 x MACs (one multiply-accumulate counts as two floating-point operations); bias adds, activations and normalisation are not counted';

export interface ReportLayer {
  name: string;
  className: string;
  outputShape: LayerCount['outputShape'];
  params: number;
  trainable: number;
  macs: number;
  flops: number;
  baseline?: { params: number; macs: number; outputShape: LayerCount['outputShape'] } | null;
}

export interface ModelTotals {
  model: string;
  params: { total: number; trainable: number; nonTrainable: number };
  macs: number;
  flops: number;
}

/** Layers slim cannot prune through: the channels touching them stay whole. */
export interface ReportWall {
  layer: string;
  className: string;
  reason: string;
}

export interface TypeTotals {
  className: string;
  layers: number;
  params: number;
  macs: number;
  baseline?: { layers: number; params: number; macs: number };
}

export interface Report extends ModelTotals {
  convention: string;
  layers: ReportLayer[];
  /** Params and MACs summed per layer type (className), biggest MACs first. */
  byType: TypeTotals[];
  walls: ReportWall[];
  baseline?: ModelTotals;
  /** Fractions removed relative to the baseline, 0..1 (negative if the model grew). */
  reduction?: { params: number; macs: number; flops: number };
  /** Baseline MACs / model MACs: the speed-up the arithmetic allows (realised speed-up is measured by bench:infer). */
  theoreticalSpeedup?: number;
}

function sumByType(layers: LayerCount[]): Map<string, { layers: number; params: number; macs: number }> {
  const byType = new Map<string, { layers: number; params: number; macs: number }>();
  for (const l of layers) {
    const t = byType.get(l.className) ?? { layers: 0, params: 0, macs: 0 };
    t.layers += 1;
    t.params += l.params;
    t.macs += l.macs;
    byType.set(l.className, t);
  }
  return byType;
}

function typeTotals(count: ModelCount, baseline?: ModelCount): TypeTotals[] {
  const now = sumByType(count.layers);
  const before = baseline ? sumByType(baseline.layers) : undefined;
  const names = new Set([...now.keys(), ...(before?.keys() ?? [])]);
  return [...names]
    .map((className) => {
      const t: TypeTotals = { className, ...(now.get(className) ?? { layers: 0, params: 0, macs: 0 }) };
      if (before) t.baseline = before.get(className) ?? { layers: 0, params: 0, macs: 0 };
      return t;
    })
    .sort((a, b) => b.macs - a.macs || b.params - a.params);
}

/** Last dimension of a single-output shape: the channel count in slim's channels-last world. */
function channelsOf(shape: LayerCount['outputShape']): number | null {
  if (shape.length > 0 && Array.isArray(shape[0])) return null;
  const dims = shape as (number | null)[];
  return dims.length > 0 ? (dims[dims.length - 1] ?? null) : null;
}

function totals(model: string, count: ModelCount): ModelTotals {
  return { model, params: { ...count.params }, macs: count.macs, flops: count.flops };
}

function fractionRemoved(before: number, after: number): number {
  return before === 0 ? 0 : (before - after) / before;
}

export function buildReport(
  modelPath: string,
  count: ModelCount,
  baseline?: { path: string; count: ModelCount },
  walls: ReportWall[] = [],
): Report {
  const baseByName = new Map((baseline?.count.layers ?? []).map((l) => [l.path, l] as const));
  const report: Report = {
    ...totals(modelPath, count),
    convention: FLOPS_CONVENTION,
    layers: count.layers.map((l) => {
      const layer: ReportLayer = {
        name: l.path,
        className: l.className,
        outputShape: l.outputShape,
        params: l.params,
        trainable: l.trainable,
        macs: l.macs,
        flops: 2 * l.macs,
      };
      if (baseline) {
        const b = baseByName.get(l.path);
        layer.baseline = b ? { params: b.params, macs: b.macs, outputShape: b.outputShape } : null;
      }
      return layer;
    }),
    byType: typeTotals(count, baseline?.count),
    walls,
  };
  if (baseline) {
    report.baseline = totals(baseline.path, baseline.count);
    report.reduction = {
      params: fractionRemoved(baseline.count.params.total, count.params.total),
      macs: fractionRemoved(baseline.count.macs, count.macs),
      flops: fractionRemoved(baseline.count.flops, count.flops),
    };
    report.theoreticalSpeedup = count.macs === 0 ? 1 : baseline.count.macs / count.macs;
  }
  return report;
}

/** 1234567 → "1.23M"; exact figures are in --json. */
export function human(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

function shapeText(shape: LayerCount['outputShape']): string {
  const one = (s: (number | null)[]) => `(${s.map((d) => (d === null ? '?' : d)).join(',')})`;
  if (shape.length > 0 && Array.isArray(shape[0])) return (shape as (number | null)[][]).map(one).join(' ');
  return one(shape as (number | null)[]);
}

function pct(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (c <= 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function renderReport(report: Report): string {
  const withBase = report.baseline !== undefined;
  const header = withBase
    ? ['layer', 'type', 'output', 'channels', 'params before', 'params', 'MACs before', 'MACs']
    : ['layer', 'type', 'output', 'params', 'MACs'];
  const rows: string[][] = [header];
  for (const l of report.layers) {
    if (withBase) {
      const b = l.baseline;
      const before = b ? channelsOf(b.outputShape) : null;
      const after = channelsOf(l.outputShape);
      const channels = before !== null && after !== null && before !== after ? `${before} -> ${after}` : String(after ?? '-');
      rows.push([
        l.name,
        l.className,
        shapeText(l.outputShape),
        channels,
        b ? human(b.params) : '-',
        human(l.params),
        b ? human(b.macs) : '-',
        human(l.macs),
      ]);
    } else {
      rows.push([l.name, l.className, shapeText(l.outputShape), human(l.params), human(l.macs)]);
    }
  }
  const lines = [table(rows), ''];
  const typeRows: string[][] = [
    withBase ? ['type', 'layers', '', 'params before', 'params', 'MACs before', 'MACs'] : ['type', 'layers', '', 'params', 'MACs'],
  ];
  for (const t of report.byType) {
    if (t.params === 0 && t.macs === 0 && (t.baseline?.params ?? 0) === 0) continue;
    typeRows.push(
      withBase
        ? [t.className, String(t.layers), '', human(t.baseline!.params), human(t.params), human(t.baseline!.macs), human(t.macs)]
        : [t.className, String(t.layers), '', human(t.params), human(t.macs)],
    );
  }
  lines.push(table(typeRows), '');
  if (report.walls.length > 0) {
    lines.push('not prunable through (channels touching these stay whole):');
    for (const w of report.walls) lines.push(`  ${w.layer} (${w.className}): ${w.reason}`);
    lines.push('');
  }
  const t = (m: ModelTotals) =>
    `params ${m.params.total.toLocaleString('en-US')} (trainable ${m.params.trainable.toLocaleString('en-US')}), MACs ${m.macs.toLocaleString('en-US')}, FLOPs ${m.flops.toLocaleString('en-US')}`;
  if (report.baseline && report.reduction) {
    lines.push(`before: ${t(report.baseline)}`);
    lines.push(`after:  ${t(report)}`);
    lines.push(
      `reduction: params ${pct(report.reduction.params)}, MACs ${pct(report.reduction.macs)}, FLOPs ${pct(report.reduction.flops)}; theoretical speed-up ${report.theoreticalSpeedup!.toFixed(2)}x`,
    );
  } else {
    lines.push(`total: ${t(report)}`);
  }
  lines.push(`note: ${report.convention}`);
  return lines.join('\n');
}
