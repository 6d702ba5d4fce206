/** How a batch's rows are split over the replicas (src/train/replica-split.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replicaSplit, splitSizes, SpeedSplit } from '../src/train/replica-split.js';

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/** A replica's part time on a simulated core: a fixed cost plus a cost per row. */
function partMs(rows: number, fixedMs: number, msPerRow: number): number {
  return rows === 0 ? 0 : fixedMs + rows * msPerRow;
}

test('equal split: near-equal consecutive parts, the remainder to the first; the same for any timing', () => {
  assert.deepEqual(splitSizes(64, 2), [32, 32]);
  assert.deepEqual(splitSizes(45, 2), [23, 22]);
  assert.deepEqual(splitSizes(1, 2), [1, 0]);
  assert.deepEqual(splitSizes(10, 3), [4, 3, 3]);
  const equal = replicaSplit('equal', 2);
  equal.observe([32, 32], [100, 300]);
  assert.deepEqual(equal.sizes(64), [32, 32]);
});

test('speed split: equal until measured, then the parts of cores of unequal speed end together', () => {
  // Core 1 takes 1.6× as long per row as core 0, plus 10 ms fixed per part on both.
  const cores = [
    { fixedMs: 10, msPerRow: 5 },
    { fixedMs: 10, msPerRow: 8 },
  ];
  const split = new SpeedSplit(2);
  let sizes = split.sizes(64);
  assert.deepEqual(sizes, [32, 32]);
  const equalStep = Math.max(...sizes.map((n, k) => partMs(n, cores[k].fixedMs, cores[k].msPerRow)));
  for (let step = 0; step < 30; step++) {
    split.observe(
      sizes,
      sizes.map((n, k) => partMs(n, cores[k].fixedMs, cores[k].msPerRow)),
    );
    sizes = split.sizes(64);
    assert.equal(sum(sizes), 64);
  }
  const times = sizes.map((n, k) => partMs(n, cores[k].fixedMs, cores[k].msPerRow));
  // Balanced to within a row's time: 39 + 25 rows (205 ms / 210 ms) instead of 32 + 32 (266 ms).
  assert.ok(Math.abs(times[0] - times[1]) <= cores[1].msPerRow, `parts ${sizes.join('/')} take ${times.join('/')} ms`);
  assert.ok(Math.max(...times) < 0.8 * equalStep, `step ${Math.max(...times)} ms vs ${equalStep} ms with equal parts`);
});

test('speed split: no replica under half its equal share; tiny batches and untimed steps stay equal', () => {
  const split = new SpeedSplit(3);
  // Replica 2 is 10× slower: held at half its share (64 / 3 / 2 = 10.67 → 10 or 11 rows), the rest by speed.
  for (let i = 0; i < 20; i++) {
    const sizes = split.sizes(64);
    split.observe(
      sizes,
      sizes.map((n, k) => n * (k === 2 ? 50 : 5)),
    );
  }
  const sizes = split.sizes(64);
  assert.equal(sum(sizes), 64);
  assert.ok(sizes[2] >= 10 && sizes[2] <= 11, `slow replica got ${sizes[2]} rows`);
  assert.ok(Math.abs(sizes[0] - sizes[1]) <= 1, `the two fast replicas: ${sizes.join('/')}`);
  // A batch smaller than 2 rows per replica is split equally (every replica keeps a row to be timed on).
  assert.deepEqual(split.sizes(5), splitSizes(5, 3));
  // A step with an empty or untimed part teaches nothing.
  const fresh = new SpeedSplit(2);
  fresh.observe([64, 0], [100, 0]);
  fresh.observe([32, 32], [100, Number.NaN]);
  assert.deepEqual(fresh.sizes(64), [32, 32]);
});

test('speed split: a core that changes speed is followed within a few steps', () => {
  const split = new SpeedSplit(2);
  let slow = 1; // which replica is on the slow core
  let sizes = split.sizes(64);
  const run = (steps: number): void => {
    for (let i = 0; i < steps; i++) {
      split.observe(
        sizes,
        sizes.map((n, k) => n * (k === slow ? 8 : 5)),
      );
      sizes = split.sizes(64);
    }
  };
  run(20);
  assert.ok(sizes[0] > sizes[1], `replica 0 on the fast core: ${sizes.join('/')}`);
  slow = 0;
  run(10);
  assert.ok(sizes[1] > sizes[0], `after the swap: ${sizes.join('/')}`);
});
