/** Merge layers: no weights. Add/Concatenate pruning facets come with the residual/concat issue. */
import type { LayerHandler } from '../types.js';
import { NO_COST } from './util.js';

function merge(className: string): LayerHandler {
  return { className, count: () => NO_COST };
}

export const add = merge('Add');
export const subtract = merge('Subtract');
export const multiply = merge('Multiply');
export const average = merge('Average');
export const maximum = merge('Maximum');
export const minimum = merge('Minimum');
export const concatenate = merge('Concatenate');
export const dot = merge('Dot');
