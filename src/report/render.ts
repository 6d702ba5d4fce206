/**
 * Turns counts (src/report/count.ts) into the report document (--json) and a text table.
 * Convention, stated in every report: one MAC is one multiply-accumulate; FLOPs = 2 × MACs.
 */
import type { LayerCount, ModelCount } from './count.js';

export const FLOPS_CONVENTION = 'FLOPs = 2 x MACs (one multiply-accumulate counts as two floating-point operations); bias adds, activations and normalisation are not counted';

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

export interface Report extends ModelTotals {
  convention: string;
  layers: ReportLayer[];
  baseline?: ModelTotals;
  /** Fractions removed relative to the baseline, 0..1 (negative if the model grew). */
  reduction?: { params: number; macs: number; flops: number };
  /** Baseline MACs / model MACs: the speed-up the arithmetic allows (realised speed-up is measured by bench:infer). */
  theoreticalSpeedup?: number;
}

function totals(model: string, count: ModelCount): ModelTotals {
  return { model, params: { ...count.params }, macs: count.macs, flops: count.flops };
}

function fractionRemoved(before: number, after: number): number {
  return before === 0 ? 0 : (before - after) / before;
}

export function buildReport(modelPath: string, count: ModelCount, baseline?: { path: string; count: ModelCount }): Report {
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
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r) => r.map((cell, c) => (c <= 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd())
    .join('\n');
}

export function renderReport(report: Report): string {
  const withBase = report.baseline !== undefined;
  const header = withBase
    ? ['layer', 'type', 'output', 'params before', 'params', 'MACs before', 'MACs']
    : ['layer', 'type', 'output', 'params', 'MACs'];
  const rows: string[][] = [header];
  for (const l of report.layers) {
    if (withBase) {
      const b = l.baseline;
      rows.push([l.name, l.className, shapeText(l.outputShape), b ? human(b.params) : '-', human(l.params), b ? human(b.macs) : '-', human(l.macs)]);
    } else {
      rows.push([l.name, l.className, shapeText(l.outputShape), human(l.params), human(l.macs)]);
    }
  }
  const lines = [table(rows), ''];
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
