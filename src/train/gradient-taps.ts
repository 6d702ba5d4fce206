/**
 * Gradient taps: while `fn` runs, every read of a trainable weight through its LayerVariable (as
 * tfjs-layers' layers read their weights in call()) returns the weight through an identity op
 * whose gradient function reports the weight's gradient the moment the backward pass has it,
 * not only when tf.variableGrads returns them all. The data-parallel exchange
 * (replica-exchange.ts) uses this to start summing a bucket while the backward pass goes on.
 *
 * A weight read k times in the forward pass (a layer applied k times) reports k parts; `onUse`
 * counts the reads so the receiver knows when a weight is complete. The values reported are the
 * same tensors variableGrads would sum, so nothing about the gradients changes.
 */
import * as tf from '#tfjs';

export interface GradientTapReceiver {
  /** The forward pass read weight `index` (once more). */
  onUse(index: number): void;
  /** One use's gradient of weight `index`, valid during the call only. */
  onGradient(index: number, values: Float32Array): void;
}

/** Runs `fn` with the reads of `layerVariables` tapped (see the file comment); restores them after. */
export function withGradientTaps<T>(layerVariables: readonly tf.LayerVariable[], receiver: GradientTapReceiver, fn: () => T): T {
  const tapped = layerVariables.map((lv, index) => {
    const variable = lv.read();
    // customGrad passes its inputs, then a save function: the one input is the weight.
    const tap = tf.customGrad((...inputs) => ({
      value: tf.clone(inputs[0] as tf.Tensor),
      gradFunc: (dy: tf.Tensor) => {
        receiver.onGradient(index, dy.dataSync() as Float32Array);
        return dy;
      },
    }));
    // An own property shadows LayerVariable.prototype.read; deleting it restores the method.
    const read = (): tf.Tensor => {
      receiver.onUse(index);
      return tap(variable);
    };
    Object.defineProperty(lv, 'read', { value: read, configurable: true, writable: true });
    return lv;
  });
  try {
    return fn();
  } finally {
    for (const lv of tapped) delete (lv as { read?: unknown }).read;
  }
}
