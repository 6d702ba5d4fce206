/**
 * One replica's part of a data-parallel step, the same on the main thread and in a worker: the
 * forward and backward pass of its rows with gradient taps (gradient-taps.ts), so each weight's
 * gradient goes into the shared exchange as soon as the backward pass has it and finished buckets
 * can be summed while the pass goes on; then the end of the backward pass is announced.
 */
import * as tf from '#tfjs';
import { withGradientTaps } from './gradient-taps.js';
import type { GradientExchange } from './replica-exchange.js';
import { lossAndGrads, type TrainingModel } from './step.js';

/**
 * Computes the part on rows `x`/`y` (`weight` = its rows / the batch's) into `exchange` and
 * announces its end with its loss and correct count (every replica reads them with partStats).
 * Call between steps, outside any tidy.
 */
export function computePart(exchange: GradientExchange, net: TrainingModel, x: tf.Tensor, y: tf.Tensor2D, weight: number): void {
  exchange.beginStep(weight);
  const receiver = {
    onUse: (index: number) => exchange.noteUse(index),
    onGradient: (index: number, values: Float32Array) => exchange.addGradient(index, values),
  };
  tf.tidy(() => {
    const part = withGradientTaps(net.layerVariables, receiver, () => lossAndGrads(net.model, net.variables, net.patches.outputKind, x, y));
    const loss = part.loss.dataSync()[0];
    const correct = part.correct.dataSync()[0];
    part.correct.dispose(); // kept by lossAndGrads, and not returned from this tidy
    const hasGradient = exchange.replica === 0 ? (i: number) => part.grads[net.variables[i].name] !== undefined : undefined;
    exchange.finishBackward(loss, correct, hasGradient);
  });
}

/** A replica with no rows in this batch still takes part in the exchange, with zeros. */
export function emptyPart(exchange: GradientExchange): void {
  exchange.beginStep(0);
  exchange.finishBackward(0, 0);
}
