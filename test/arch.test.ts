import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildVgg, PAPER_VGG, type VggSpec } from '../src/model/architectures.js';

before(async () => {
  await tf.setBackend('cpu');
});

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

test('tiny VGG: layer names, output shape, softmax rows', () => {
  const model = buildVgg({ cfg: [4, 'M', 8, 'A'], inputShape: [8, 8, 1], numClasses: 3, head: 'gap', seed: 1 });
  assert.deepEqual(
    model.layers.map((l) => l.name),
    ['conv1', 'bn1', 'relu1', 'pool1', 'conv2', 'bn2', 'relu2', 'pool2', 'gap', 'classifier'],
  );
  assert.equal(model.getLayer('pool2').getClassName(), 'AveragePooling2D');
  assert.equal(model.getLayer('conv1').getConfig()['useBias'], false);
  assert.equal(model.getLayer('conv1').getWeights().length, 1);
  const out = tf.tidy(() => model.predict(tf.ones([2, 8, 8, 1])) as tf.Tensor);
  assert.deepEqual(out.shape, [2, 3]);
  const sums = tf.tidy(() => tf.sum(out, -1).dataSync());
  for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-5);
  out.dispose();
  model.dispose();
});

test('param count matches a hand count and tfjs countParams', () => {
  const spec: VggSpec = {
    cfg: [4, 'M', 8, 'M'],
    inputShape: [12, 12, 3],
    numClasses: 5,
    head: 'flatten',
    hidden: [16],
    dropout: 0.5,
    seed: 3,
  };
  const model = buildVgg(spec);
  // conv1 3·3·3·4 + bn 4·4, conv2 3·3·4·8 + bn 8·4, fc1 (3·3·8)·16 + bn 16·4, classifier 16·5+5.
  const expected = 108 + 16 + 288 + 32 + 72 * 16 + 64 + 16 * 5 + 5;
  assert.equal(model.countParams(), expected);
  assert.ok(model.layers.some((l) => l.name === 'dropout1'));
  assert.deepEqual(model.outputs[0].shape, [null, 5]);
  model.dispose();

  const noBn = buildVgg({ cfg: [4], inputShape: [4, 4, 1], numClasses: 2, head: 'gap', batchNorm: false, seed: 1 });
  assert.equal(noBn.countParams(), 9 * 4 + 4 + 4 * 2 + 2); // conv gets a bias without BN
  assert.ok(!noBn.layers.some((l) => l.getClassName() === 'BatchNormalization'));
  noBn.dispose();
});

test('paper VGG16 (CIFAR form) has the published conv structure and the expected size', () => {
  assert.equal(PAPER_VGG.vgg16.filter((v) => typeof v === 'number').length, 13);
  assert.equal(PAPER_VGG.vgg19.filter((v) => typeof v === 'number').length, 16);
  const model = buildVgg({ cfg: [...PAPER_VGG.vgg16, 'A'], inputShape: [32, 32, 3], numClasses: 10, head: 'flatten', seed: 0 });
  // Conv weights (no bias) + 4 BN params per channel + Linear(512, 10).
  const convs: [number, number][] = [];
  let cin = 3;
  for (const v of PAPER_VGG.vgg16)
    if (typeof v === 'number') {
      convs.push([cin, v]);
      cin = v;
    }
  const expected = convs.reduce((s, [i, o]) => s + 9 * i * o + 4 * o, 0) + 512 * 10 + 10;
  assert.equal(model.countParams(), expected);
  assert.deepEqual(model.outputs[0].shape, [null, 10]);
  model.dispose();
});

test('same seed → identical weights; another seed → different; functional equals sequential', () => {
  const spec: VggSpec = { cfg: [4, 'M', 4], inputShape: [8, 8, 1], numClasses: 3, head: 'flatten', hidden: [6], seed: 11 };
  const a = buildVgg(spec);
  const b = buildVgg(spec);
  const c = buildVgg({ ...spec, seed: 12 });
  const f = buildVgg({ ...spec, functional: true });
  const wa = weightsOf(a);
  assert.deepEqual(weightsOf(b), wa);
  assert.deepEqual(weightsOf(f), wa);
  assert.notDeepEqual(weightsOf(c), wa);
  // Two equally shaped convs in one model do not share initial weights.
  assert.notDeepEqual(a.getLayer('conv2').getWeights()[0].dataSync().slice(0, 4), undefined);
  const k1 = a.getLayer('conv1').getWeights()[0].dataSync();
  const k2 = a.getLayer('conv2').getWeights()[0].dataSync();
  assert.notDeepEqual(Array.from(k2.slice(0, k1.length)), Array.from(k1));
  assert.ok(!(f instanceof tf.Sequential));
  assert.equal(f.layers[0].getClassName(), 'InputLayer');
  const x = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 5);
  const ya = (a.predict(x) as tf.Tensor).dataSync();
  const yf = (f.predict(x) as tf.Tensor).dataSync();
  for (let i = 0; i < ya.length; i++) assert.ok(Math.abs(ya[i] - yf[i]) < 1e-6);
  for (const m of [a, b, c, f]) m.dispose();
});

test('gammaInit, and clear errors for impossible specs', () => {
  const m = buildVgg({ cfg: [3], inputShape: [4, 4, 1], numClasses: 2, head: 'gap', gammaInit: 0.5, seed: 1 });
  assert.deepEqual(Array.from(m.getLayer('bn1').getWeights()[0].dataSync()), [0.5, 0.5, 0.5]);
  m.dispose();
  assert.throws(
    () => buildVgg({ cfg: ['M', 'M', 'M'], inputShape: [4, 4, 1], numClasses: 2, head: 'gap', seed: 1 }),
    /pool 3 would shrink a 1x1 map/,
  );
  assert.throws(
    () => buildVgg({ cfg: [4], inputShape: [4, 4, 1], numClasses: 2, head: 'gap', hidden: [3], seed: 1 }),
    /hidden layers need head 'flatten'/,
  );
});
