import type { BenchRow } from '../../config/schema.js';
/**
 * Vega-Lite specs for every chart of the HTML report. Pure data in, spec out: rendering to SVG is
 * svg.ts's job. Mark names (`name`) are fixed so tests can find the marks in the SVG.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { CurveStage, GammaSet, LayerFigures, SweepPoint } from './data.js';
import { shareBelow, type LogHistogram } from './gammas.js';

export const COLORS = { removed: '#d62728', kept: '#4c78a8', before: '#9ecae9', after: '#4c78a8', threshold: '#b71c1c' };
/** Plot width of the |γ| histogram in pixels (its log axis spans exactly this). */
export const GAMMA_CHART_WIDTH = 560;
const HEIGHT = 220;
const CONFIG = {
  font: 'sans-serif',
  axis: { titleFontSize: 12, labelFontSize: 11 },
  legend: { titleFontSize: 12, labelFontSize: 11 },
  title: { fontSize: 14, anchor: 'start' as const },
  view: { stroke: '#ddd' },
};

function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** A number as the report writes it on charts: 3 significant digits. */
export function short(x: number): string {
  return x === 0 ? '0' : Math.abs(x) >= 0.01 && Math.abs(x) < 1e4 ? String(Number(x.toPrecision(3))) : x.toExponential(2);
}

/** Tick values of a log axis over whole decades: each decade, plus 2× and 5× when there are at most three. */
export function logTicks([lo, hi]: [number, number]): number[] {
  const loExp = Math.round(Math.log10(lo));
  const hiExp = Math.round(Math.log10(hi));
  const multiples = hiExp - loExp <= 3 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let e = loExp; e <= hiExp; e++) {
    for (const m of multiples) {
      const v = Number(`${m}e${e}`);
      if (v <= hi) ticks.push(v);
    }
  }
  return ticks;
}

export interface GammaChartOptions {
  title: string;
  /** Shade the removed share and colour the bins below the threshold (the model the threshold cut). */
  cut: boolean;
}

/**
 * Histogram of |γ| on a log axis: bins as rects from `lo` to `hi`, the threshold as a vertical
 * rule, and (for the model the threshold was computed on) the removed share shaded.
 */
export function gammaHistogramSpec(
  set: GammaSet,
  hist: LogHistogram,
  threshold: number | undefined,
  options: GammaChartOptions,
): TopLevelSpec {
  const x = {
    field: 'lo',
    type: 'quantitative' as const,
    scale: { type: 'log' as const, domain: hist.domain, nice: false },
    // Labels at decades (and 2×, 5× over a short axis): plain decimals down to 0.001, powers of ten below.
    axis: {
      title: '|γ| per prunable channel (log scale)',
      values: logTicks(hist.domain),
      labelExpr: "datum.value < 1e-3 ? format(datum.value, '.0e') : format(datum.value, '~g')",
      grid: false,
    },
  };
  const bins = hist.bins.filter((b) => b.count > 0).map((b) => ({ ...b, side: options.cut && b.removed ? 'removed' : 'kept' }));
  const layers: object[] = [];
  if (threshold !== undefined && options.cut) {
    layers.push({
      name: 'removed_share',
      data: { values: [{ lo: hist.domain[0], hi: threshold }] },
      mark: { type: 'rect', color: COLORS.removed, opacity: 0.1 },
      encoding: { x, x2: { field: 'hi' } },
    });
  }
  layers.push({
    name: 'gamma_bins',
    data: { values: bins },
    mark: { type: 'rect', stroke: 'white', strokeWidth: 0.5 },
    encoding: {
      x,
      x2: { field: 'hi' },
      y: { field: 'count', type: 'quantitative', scale: { nice: true }, axis: { title: 'channels', tickMinStep: 1 } },
      color: {
        field: 'side',
        type: 'nominal',
        scale: { domain: ['removed', 'kept'], range: [COLORS.removed, COLORS.kept] },
        legend: options.cut ? { title: null, orient: 'top' } : null,
      },
    },
  });
  if (threshold !== undefined) {
    const label = options.cut
      ? `threshold ${short(threshold)}: ${percent(shareBelow(set.values, threshold))} of channels below`
      : `threshold ${short(threshold)} (reference): ${percent(shareBelow(set.values, threshold))} of channels below`;
    layers.push({
      name: 'threshold',
      data: { values: [{ t: threshold, label }] },
      layer: [
        {
          name: 'threshold_rule',
          mark: { type: 'rule', color: COLORS.threshold, strokeWidth: 2, strokeDash: options.cut ? [] : [6, 4] },
          encoding: { x: { ...x, field: 't' } },
        },
        {
          name: 'threshold_label',
          mark: { type: 'text', align: 'left', baseline: 'top', dx: 4, dy: 2, color: COLORS.threshold, fontSize: 11 },
          encoding: { x: { ...x, field: 't' }, y: { value: 0 }, text: { field: 'label' } },
        },
      ],
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: options.title, subtitle: `${set.values.length} channels of ${set.source}` },
    width: GAMMA_CHART_WIDTH,
    height: HEIGHT,
    config: CONFIG,
    layer: layers,
  } as TopLevelSpec;
}

export type LayerMetric = 'channels' | 'params' | 'macs';
const METRIC_TITLES: Record<LayerMetric, string> = { channels: 'output channels', params: 'parameters', macs: 'MACs' };

/**
 * The folder-like prefix every layer name shares ("sequential_8/model_1/" in a Teachable Machine
 * model), cut from the labels so that 50+ layers stay tell-apart; the axis title names it.
 */
export function commonLayerPrefix(names: readonly string[]): string {
  if (names.length < 2) return '';
  let prefix = names[0].slice(0, names[0].lastIndexOf('/') + 1);
  for (const name of names)
    while (prefix !== '' && !name.startsWith(prefix)) prefix = prefix.slice(0, prefix.slice(0, -1).lastIndexOf('/') + 1);
  // A prefix that is a whole name would leave an empty label.
  return names.some((n) => n === prefix) ? '' : prefix;
}

/**
 * Bars per layer in network order, one row per layer (horizontal bars: a long model grows
 * downwards, never needs horizontal scrolling, and every label is readable), before and after
 * side by side (only `after` without a baseline).
 */
export function layerBarsSpec(layers: readonly LayerFigures[], metric: LayerMetric, title: string): TopLevelSpec {
  const prefix = commonLayerPrefix(layers.map((l) => l.name));
  const label = (name: string) => name.slice(prefix.length);
  const values: { layer: string; when: string; value: number }[] = [];
  for (const l of layers) {
    const figures = l[metric];
    if (figures.before !== undefined && figures.before !== null)
      values.push({ layer: label(l.name), when: 'before', value: figures.before });
    if (figures.after !== null) values.push({ layer: label(l.name), when: 'after', value: figures.after });
  }
  const whens = [...new Set(values.map((v) => v.when))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 420,
    height: { step: whens.length * 7 + 4 },
    config: CONFIG,
    data: { values },
    name: `layer_${metric}`,
    mark: { type: 'bar' },
    encoding: {
      y: {
        field: 'layer',
        type: 'nominal',
        sort: layers.map((l) => label(l.name)),
        axis: { title: prefix === '' ? 'layer (network order)' : `layer (network order), in ${prefix}`, labelLimit: 360 },
      },
      yOffset: { field: 'when', sort: ['before', 'after'] },
      x: { field: 'value', type: 'quantitative', axis: { title: METRIC_TITLES[metric], format: ',d', tickMinStep: 1, orient: 'top' } },
      color: {
        field: 'when',
        type: 'nominal',
        sort: ['before', 'after'],
        scale: { domain: ['before', 'after'], range: [COLORS.before, COLORS.after] },
        legend: { title: null, orient: 'top' },
      },
    },
  };
}

/** Realised speed-up per runtime and batch (bar, p10–p90 rule), against the MACs reduction (dashed rule). */
export function benchSpec(rows: readonly BenchRow[], macsSpeedup: number | null): TopLevelSpec {
  const values = rows.map((r) => ({
    where: `${r.runtime}${r.software ? '*' : ''} · ${r.batch}`,
    speedup: r.speedup,
    p10: r.speedupP10,
    p90: r.speedupP90,
  }));
  const order = values.map((v) => v.where);
  const x = {
    field: 'where',
    type: 'nominal',
    sort: order,
    axis: { title: 'runtime · batch (* software rendering)', labelAngle: -30, labelLimit: 200 },
  } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Realised speed-up, measured',
    width: { step: 48 },
    height: HEIGHT,
    config: CONFIG,
    name: 'bench_speedup',
    layer: [
      {
        data: { values },
        mark: { type: 'bar', color: COLORS.after },
        encoding: { x, y: { field: 'speedup', type: 'quantitative', axis: { title: 'baseline ms ÷ slim ms' } } },
      },
      {
        data: { values },
        mark: { type: 'rule', color: '#333' },
        encoding: { x, y: { field: 'p10', type: 'quantitative' }, y2: { field: 'p90' } },
      },
      ...(macsSpeedup !== null
        ? [
            {
              data: { values: [{ macs: macsSpeedup }] },
              mark: { type: 'rule' as const, strokeDash: [6, 4], color: COLORS.before },
              encoding: { y: { field: 'macs', type: 'quantitative' as const } },
            },
          ]
        : []),
    ],
  };
}

export type CurveMetric = 'loss' | 'accuracy' | 'gammaSum' | 'gammaBelow';
const CURVE_TITLES: Record<CurveMetric, { title: string; axis: string; format: string }> = {
  loss: { title: 'Loss per epoch', axis: 'loss (mean per example)', format: '~g' },
  accuracy: { title: 'Accuracy per epoch', axis: 'accuracy', format: '.0%' },
  gammaSum: { title: 'Σ|γ| over all BN channels', axis: 'Σ|γ|', format: '~s' },
  gammaBelow: { title: 'Share of |γ| below 1e-2', axis: 'share of channels', format: '.0%' },
};

interface CurvePoint {
  epoch: number;
  stage: string;
  series: string;
  value: number;
}

/** The points of one metric over every stage; epochs count on across stages (1-based). */
export function curvePoints(stages: readonly CurveStage[], metric: CurveMetric): CurvePoint[] {
  const points: CurvePoint[] = [];
  let offset = 0;
  for (const { stage, epochs } of stages) {
    for (const r of epochs) {
      const epoch = offset + r.epoch + 1;
      const add = (series: string, value: number | undefined) => {
        if (value !== undefined && Number.isFinite(value)) points.push({ epoch, stage, series, value });
      };
      if (metric === 'loss') {
        add('train', r.loss);
        add('validation', r.valLoss);
      } else if (metric === 'accuracy') {
        add('train', r.trainAccuracy);
        add('validation', r.valAccuracy);
      } else if (metric === 'gammaSum') {
        add('all channels', r.gamma.meanAbs * r.gamma.count);
      } else {
        add('all channels', r.gamma.below1e2);
      }
    }
    offset += epochs.length;
  }
  return points;
}

/** One metric per epoch: colour = stage, dash = train / validation; dotted rules where a stage starts. */
export function curveSpec(stages: readonly CurveStage[], metric: CurveMetric): TopLevelSpec {
  const { title, axis, format } = CURVE_TITLES[metric];
  const points = curvePoints(stages, metric);
  const starts: { epoch: number; stage: string }[] = [];
  let offset = 0;
  for (const s of stages) {
    if (offset > 0) starts.push({ epoch: offset + 0.5, stage: s.stage });
    offset += s.epochs.length;
  }
  const series = [...new Set(points.map((p) => p.series))];
  const layer: object[] = [
    {
      name: `curve_${metric}`,
      data: { values: points },
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: 'epoch',
          type: 'quantitative',
          scale: { domain: [0.5, Math.max(1, offset) + 0.5] },
          axis: { title: 'epoch', tickMinStep: 1, format: 'd' },
        },
        y: { field: 'value', type: 'quantitative', scale: { zero: false }, axis: { title: axis, format } },
        color: { field: 'stage', type: 'nominal', sort: stages.map((s) => s.stage), legend: { title: 'stage', orient: 'right' } },
        ...(series.length > 1
          ? {
              strokeDash: { field: 'series', type: 'nominal', sort: series, legend: { title: null, orient: 'right' } },
              shape: { field: 'series', type: 'nominal', sort: series, legend: { title: null, orient: 'right' } },
            }
          : {}),
        detail: { field: 'series' },
      },
    },
  ];
  if (starts.length > 0) {
    layer.push({
      data: { values: starts },
      mark: { type: 'rule', color: '#999', strokeDash: [2, 3] },
      encoding: { x: { field: 'epoch', type: 'quantitative' } },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 320,
    height: 180,
    config: CONFIG,
    layer,
  } as TopLevelSpec;
}

/** Accuracy against the prune ratio, or against the MACs left. */
export function sweepSpec(points: readonly SweepPoint[], against: 'ratio' | 'macs', split: 'val' | 'test' = 'test'): TopLevelSpec {
  const x =
    against === 'ratio'
      ? { field: 'ratio', type: 'quantitative', axis: { title: 'prune ratio (share of channels removed)', format: '.0%' } }
      : { field: 'macs', type: 'quantitative', scale: { zero: false }, axis: { title: 'MACs after pruning', format: '~s' } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: against === 'ratio' ? 'Accuracy vs prune ratio' : 'Accuracy vs MACs',
    width: 380,
    height: 200,
    config: CONFIG,
    name: `sweep_${against}`,
    data: { values: [...points].sort((a, b) => a[against] - b[against]) },
    mark: { type: 'line', point: { size: 50 } },
    encoding: {
      x,
      y: {
        field: 'accuracy',
        type: 'quantitative',
        scale: { zero: false },
        axis: { title: `${split === 'val' ? 'validation' : 'test'} accuracy`, format: '.1%' },
      },
    },
  } as TopLevelSpec;
}
