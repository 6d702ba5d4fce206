/**
 * The pieces of the data-parallel exchange on their own: gradient taps (each weight's gradient as
 * the backward pass produces it) against tf.variableGrads on nets with shared layers, nested
 * models and frozen bodies; the bucket layout; and the shared-memory exchange's sums, part losses
 * and failure signalling, driven by several replicas from one thread.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.js';
import { buildVgg } from '../src/model/architectures.js';
import { withTrainingPatches } from '../src/train/patches.js';
import { allocateExchange, bucketLayout, BUCKET_FLOATS, ExchangeAborted, GradientExchange } from '../src/train/replica-exchange.js';
import { computePart, emptyPart } from '../src/train/replica-part.js';
import { lossAndGrads, trainingModel } from '../src/train/step.js';
import { frozenBodyTransfer, smallMobileNetV2, smallNestedSequential, smallResNetBasic, smallSharedLayer } from './fixtures/zoo/index.js';

tf.env().set('PROD', true);

before(async () => {
  try {
    await selectBackend('wasm');
  } catch {
    await selectBackend('cpu');
  }
});

const NETS: [string, () => tf.LayersModel][] = [
  ['a layer applied twice', smallSharedLayer],
  ['a nested Sequential', smallNestedSequential],
  ['a frozen body under a trainable head', () => frozenBodyTransfer(10)],
  ['MobileNetV2 blocks (depthwise, residual adds)', smallMobileNetV2],
  ['ResNet basic blocks', smallResNetBasic],
  [
    'a VGG with BN, dropout and a hidden Dense',
    () => buildVgg({ cfg: [8, 'M', 16], inputShape: [12, 12, 2], numClasses: 10, head: 'flatten', hidden: [8], dropout: 0.3, seed: 3 }),
  ],
];

for (const [name, build] of NETS) {
  test(`gradient taps deliver exactly tf.variableGrads' gradients, each weight once complete: ${name}`, async () => {
    const model = build();
    const inputShape = model.inputs[0].shape.slice(1) as number[];
    const x = tf.randomUniform([6, ...inputShape], -1, 1, 'float32', 7);
    const classes = model.outputs[0].shape[1] as number;
    const y = tf
      .oneHot(
        tf.tensor1d(
          [0, 1, 2, 3, 4, 5].map((c) => c % classes),
          'int32',
        ),
        classes,
      )
      .toFloat() as tf.Tensor2D;
    await withTrainingPatches(model, { fusedBatchNorm: true }, (patches) => {
      const net = trainingModel(model, patches);
      const seeds = Array.from({ length: patches.dropoutCount }, (_, i) => i + 1);
      patches.seedDropout(seeds);
      const expected = tf.tidy(() => {
        const { grads } = lossAndGrads(model, net.variables, patches.outputKind, x, y);
        return net.variables.map((v) => (grads[v.name] === undefined ? undefined : (grads[v.name].dataSync() as Float32Array).slice()));
      });
      const buffers = allocateExchange(
        1,
        net.variables.map((v) => v.size),
        1, // a bucket per weight: each must be published as soon as its gradient is complete
      );
      const exchange = new GradientExchange(buffers, 0);
      // Which buckets were published before the backward pass ended (finishBackward publishes the rest).
      const published: number[] = [];
      let ended = false;
      const spy = exchange as unknown as { publish: (b: number) => void };
      const publish = spy.publish.bind(exchange);
      spy.publish = (b) => {
        if (!ended) published.push(b);
        publish(b);
      };
      const finish = exchange.finishBackward.bind(exchange);
      exchange.finishBackward = (...args) => {
        ended = true;
        finish(...args);
      };
      patches.seedDropout(seeds);
      const tensorsBefore = tf.memory().numTensors;
      computePart(exchange, net, x, y, 1);
      assert.equal(tf.memory().numTensors, tensorsBefore, 'the tapped step leaks no tensors');
      exchange.reduceBlocking();
      net.variables.forEach((v, i) => {
        const { start, end } = buffers.variables[i];
        const got = exchange.reduced.slice(start, end);
        const want = expected[i] ?? new Float32Array(v.size);
        assert.deepEqual(got, want, `gradient of ${v.name}`);
        assert.equal(exchange.hasGradient(i), expected[i] !== undefined, `has gradient: ${v.name}`);
      });
      // Every weight with a gradient was published during the backward pass, the last layers first.
      const withGradient = net.variables.flatMap((_, i) => (expected[i] !== undefined ? [buffers.bucketOf[i]] : []));
      assert.deepEqual(
        [...published].sort((a, b) => a - b),
        withGradient.sort((a, b) => a - b),
      );
      assert.ok(published[0] < published[published.length - 1] || published.length === 1, `order ${published.join(',')}`);
      // LayerVariable.read is the prototype's again.
      assert.ok(model.trainableWeights.every((w) => !Object.prototype.hasOwnProperty.call(w, 'read')));
    });
    tf.dispose([x, y]);
    model.dispose();
  });
}

test('bucket layout: consecutive weights from the last backwards, each bucket ≥ the size but the first layers', () => {
  const sizes = [27, 16, 16, 4608, 32, 32, 18432, 64, 64, 640, 10, 30000, 5];
  const { buckets, bucketOf } = bucketLayout(sizes, 16384);
  const total = sizes.reduce((a, b) => a + b, 0);
  // Buckets tile [0, total) from the end.
  assert.equal(buckets[0].end, total);
  for (let b = 1; b < buckets.length; b++) assert.equal(buckets[b].end, buckets[b - 1].start);
  assert.equal(buckets[buckets.length - 1].start, 0);
  buckets.slice(0, -1).forEach((b) => assert.ok(b.end - b.start >= 16384));
  // bucketOf is non-increasing in weight order and puts each weight inside its bucket.
  let offset = 0;
  sizes.forEach((size, i) => {
    const b = buckets[bucketOf[i]];
    assert.ok(b.start <= offset && offset + size <= b.end, `weight ${i}`);
    if (i > 0) assert.ok(bucketOf[i] <= bucketOf[i - 1]);
    offset += size;
  });
  assert.deepEqual(bucketLayout([5], BUCKET_FLOATS).buckets, [{ start: 0, end: 5 }]);
});

/** Deterministic pseudo-random floats. */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

test('the exchange sums every replica’s weighted parts in slot order, bit for bit, over several steps', () => {
  const sizes = [300, 7, 1000, 50];
  const replicas = 3;
  const buffers = allocateExchange(replicas, sizes, 256);
  const views = Array.from({ length: replicas }, (_, k) => new GradientExchange(buffers, k));
  const weights = [0.5, 0.25, 0.25];
  for (let step = 0; step < 4; step++) {
    const parts = views.map((_, k) => sizes.map((n, i) => values(n, 1000 * step + 10 * k + i)));
    views.forEach((ex, k) => {
      ex.beginStep(weights[k]);
      sizes.forEach((_, i) => {
        // Weight 1 is used twice by replica 2 (a shared layer): two parts that must add up.
        const uses = k === 2 && i === 1 ? 2 : 1;
        for (let u = 0; u < uses; u++) ex.noteUse(i);
        if (k === 1 && i === 3) return; // replica 1 has no gradient for weight 3: zeros
        for (let u = 0; u < uses; u++) ex.addGradient(i, parts[k][i]);
      });
      ex.finishBackward(step + k, 10 * k, k === 0 ? (i) => i !== 3 || step % 2 === 0 : undefined);
    });
    // One replica sums everything (the others find it done), in any order of arrival.
    views[(step + 1) % replicas].reduceBlocking();
    views.forEach((ex) => ex.reduceBlocking());
    let offset = 0;
    sizes.forEach((n, i) => {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let k = 0; k < replicas; k++) {
          if (k === 1 && i === 3) continue;
          const part = Math.fround(parts[k][i][j] * weights[k]);
          sum += k === 2 && i === 1 ? Math.fround(part + part) : part;
        }
        assert.equal(views[0].reduced[offset + j], Math.fround(sum), `step ${step}, weight ${i}, value ${j}`);
      }
      offset += n;
    });
    views.forEach((ex) => {
      const { loss, correct, computeMs } = ex.partStats(2);
      assert.deepEqual({ loss, correct }, { loss: step + 2, correct: 20 });
      assert.ok(computeMs >= 0 && Number.isFinite(computeMs), `compute ${computeMs} ms`);
      assert.equal(ex.hasGradient(3), step % 2 === 0);
      assert.equal(ex.hasGradient(0), true);
    });
  }
  assert.equal(
    views.reduce((n, ex) => n + ex.unitsSummed, 0),
    4 * buffers.units.length,
  );
});

test('an empty part contributes zeros; an aborted exchange fails every later step with ExchangeAborted', () => {
  const buffers = allocateExchange(2, [10]);
  const [a, b] = [new GradientExchange(buffers, 0), new GradientExchange(buffers, 1)];
  a.beginStep(1);
  a.noteUse(0);
  a.addGradient(0, new Float32Array(10).fill(2));
  a.finishBackward(1, 1, () => true);
  emptyPart(b);
  b.reduceBlocking();
  assert.deepEqual([...a.reduced], new Array(10).fill(2));
  a.reduceBlocking();
  b.abort();
  assert.throws(() => a.beginStep(1), ExchangeAborted);
  assert.throws(() => b.reduceBlocking(), ExchangeAborted);
});
