/**
 * The |γ| distribution as one line of text for the terminal: a log-scaled histogram drawn with
 * block characters, printed after sparsity training so the effect of λ shows without opening a file.
 */
import * as tf from '#tfjs';
import { findBnGammas } from '../train/sparsity.js';
import { logDomain, logHistogram } from './html/gammas.js';

const BLOCKS = '▁▂▃▄▅▆▇█';
const BINS_PER_DECADE = 4;

/** |γ| of every BatchNormalization channel of a model (one read per BN layer). */
export function bnGammaMagnitudes(model: tf.LayersModel): number[] {
  const values: number[] = [];
  for (const { variable } of findBnGammas(model)) {
    for (const v of variable.read().dataSync()) values.push(Math.abs(v));
  }
  return values;
}

function decade(x: number): string {
  return `1e${Math.round(Math.log10(x))}`;
}

/**
 * e.g. `|γ| 1e-4 ▁ ▂█▅▃▁ 1e0 (120 channels, 34.2% < 1e-2)`: one character per quarter decade,
 * its height the channel count of that bin relative to the fullest (a blank is an empty bin).
 * Empty when there are no values.
 */
export function gammaSparkline(values: readonly number[]): string {
  if (values.length === 0) return '';
  const domain = logDomain([values]);
  const { bins } = logHistogram(values, domain, undefined, BINS_PER_DECADE);
  const fullest = Math.max(...bins.map((b) => b.count));
  const line = bins
    .map((b) => (b.count === 0 ? ' ' : BLOCKS[Math.min(BLOCKS.length - 1, Math.ceil((b.count / fullest) * BLOCKS.length) - 1)]))
    .join('');
  const below = values.filter((v) => v < 1e-2).length / values.length;
  return `|γ| ${decade(domain[0])} ${line} ${decade(domain[1])} (${values.length} channels, ${(below * 100).toFixed(1)}% < 1e-2)`;
}
