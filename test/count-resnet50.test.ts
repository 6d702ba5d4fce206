/** ResNet50 counted from a topology JSON (no weights allocated): 25,636,712 params. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { resnet50Topology } from '../bench/prune-large.js';
import { countModel } from '../src/report/count.js';

describe('published figures', () => {
  it('ResNet50: 25,636,712 params (53,120 non-trainable), ≈3.9G MACs', () => {
    const { topology, weightShapes } = resnet50Topology();
    const count = countModel(topology);
    assert.equal(count.params.total, 25_636_712);
    assert.equal(count.params.nonTrainable, 53_120);
    // The weight list the bench allocates agrees with the count.
    assert.equal(
      weightShapes.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0),
      25_636_712,
    );
    // Commonly quoted: ~3.8–4.1 G multiply-adds at 224×224.
    assert.ok(count.macs > 3.8e9 && count.macs < 4.2e9, `MACs ${count.macs}`);
  });
});
