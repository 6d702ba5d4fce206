/** A BenchReport as the table `slim bench` prints on stdout. */
import type { BenchReport } from '../config/schema.js';
import { SOFTWARE_RENDERING_NOTE } from './runtime.js';

const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const spread = (t: { medianMs: number; p10Ms: number; p90Ms: number }) => `${ms(t.medianMs)} (${ms(t.p10Ms)}–${ms(t.p90Ms)})`;
const times = (x: number | null) => (x === null ? '–' : `${x.toFixed(2)}×`);
const mib = (bytes: number | null) => (bytes === null ? '–' : `${(bytes / 2 ** 20).toFixed(2)} MiB`);

export function renderBenchTable(report: BenchReport): string {
  const paired = report.baseline !== null;
  // CPU columns only when some runtime read a CPU clock (not a served page).
  const withCpu = report.rows.some((r) => r.model.cpuMedianMs !== undefined);
  const header = [
    'runtime',
    'batch',
    'model ms (p10–p90)',
    ...(withCpu ? ['model CPU ms'] : []),
    ...(paired ? ['baseline ms (p10–p90)', 'speed-up (p10–p90)', ...(withCpu ? ['CPU speed-up'] : []), 'MACs ×', 'realised ÷ MACs'] : []),
    'load',
  ];
  const rows = report.rows.map((r) => [
    `${r.runtime}${r.software ? '*' : ''}`,
    String(r.batch),
    spread(r.model),
    ...(withCpu ? [r.model.cpuMedianMs === undefined ? '–' : ms(r.model.cpuMedianMs)] : []),
    ...(paired
      ? [
          r.baseline !== null ? spread(r.baseline) : '–',
          r.speedup !== null ? `${times(r.speedup)} (${times(r.speedupP10)}–${times(r.speedupP90)})` : '–',
          ...(withCpu ? [times(r.cpuSpeedup ?? null)] : []),
          times(r.macsSpeedup),
          r.realisedOverMacs === null ? '–' : r.realisedOverMacs.toFixed(2),
        ]
      : []),
    r.loadAverage.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i <= 1 ? (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const lines = [line(header)];
  report.rows.forEach((r, i) => {
    lines.push(line(rows[i]));
    const first = `first predict ${ms(r.model.firstMs)} ms${r.baseline !== null ? ` (baseline ${ms(r.baseline.firstMs)} ms)` : ''}`;
    const peak = `peak tensors ${mib(r.model.peakBytes)}${r.baseline !== null ? ` (baseline ${mib(r.baseline.peakBytes)})` : ''}`;
    lines.push(`  ${first}; ${peak}`);
  });
  const devices = [...new Map(report.rows.map((r) => [r.runtime, r.device])).entries()].map(([rt, d]) => `${rt}: ${d}`);
  lines.push('', ...devices);
  const weights = `weights ${mib(report.model.weightBytes)}${report.baseline !== null ? ` (baseline ${mib(report.baseline.weightBytes)})` : ''}`;
  lines.push(
    `${report.runs} timed runs per model after ${report.warmup} warm-up, the models interleaved run by run; ${weights}; load = 1-min load average`,
  );
  if (withCpu) lines.push("CPU = CPU time of a predict (median): node:* this process's, chromium:* the page's main thread's");
  if (report.rows.some((r) => r.software)) lines.push(`* ${SOFTWARE_RENDERING_NOTE}`);
  for (const s of report.skipped) lines.push(`skipped ${s.runtime}: ${s.reason}`);
  return lines.join('\n');
}
