/**
 * The config loader: defaults, strictness (typos are errors), error messages that name the file,
 * the config path and the flag, flag overrides, and `--config -` (stdin) through the real binary.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { InputError } from '../src/errors.js';
import { loadConfig, parseConfig, type Override } from '../src/config/load.js';
import { configJsonSchema } from '../src/config/schema.js';
import { replicasOverride, runtimeOverrides } from '../src/commands/options.js';
import { runSlim, stderrLines, describeRun } from './helpers/cli.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The InputError thrown by `fn`, so tests can assert on its one-line message. */
function inputErrorOf(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof InputError, `expected an InputError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), `error must be one line: ${err.message}`);
    return err;
  }
  assert.fail('expected an InputError, nothing was thrown');
}

test('an empty config gets every default filled in', () => {
  for (const text of ['{}', '', '  \n']) {
    const config = parseConfig(text, 'empty.json');
    assert.equal(config.seed, 42);
    assert.equal(config.backend, 'auto');
    assert.equal(config.model, undefined);
    assert.equal(config.data, undefined);
    assert.deepEqual(config.train, {
      epochs: 10,
      batchSize: 64,
      lr: 0.1,
      momentum: 0.9,
      nesterov: false,
      weightDecay: 1e-4,
      milestones: [0.5, 0.75],
      gamma: 0.1,
      sparsity: 1e-4,
      trainable: 'all',
      addMissingScale: true,
    });
    assert.equal(config.finetune.epochs, 5);
    assert.equal(config.finetune.trainable, 'all');
    assert.equal(config.finetune.lr, 0.01);
    assert.equal(config.pretrain.epochs, 0);
    assert.deepEqual(config.prune, { minChannels: 1, roundTo: 1, importance: 'mean' });
  }
});

test('nested defaults are filled inside sections the user gave', () => {
  const config = parseConfig(
    JSON.stringify({ model: { type: 'vgg', cfg: [4, 'M', 8] }, data: { dataset: 'mnist' }, train: { lr: 0.05 } }),
    'c.json',
  );
  assert.equal(config.train.lr, 0.05);
  assert.equal(config.train.epochs, 10);
  assert.deepEqual(config.model, { type: 'vgg', cfg: [4, 'M', 8], head: 'gap', hidden: [], dropout: 0 });
  assert.equal(config.data?.validationSplit, 0.1);
  assert.deepEqual(config.data?.preprocess, { scale: 1 / 255, mean: [0], std: [1] });
});

test('an unknown key is an error naming the key and the file (typos are never ignored)', () => {
  const top = inputErrorOf(() => parseConfig('{"trian": {"lr": 0.1}}', 'my.json'));
  assert.match(top.message, /^my\.json: /);
  assert.match(top.message, /unknown key.*\btrian\b/);
  const nested = inputErrorOf(() => parseConfig('{"train": {"lrr": 0.1}}', 'my.json'));
  assert.match(nested.message, /train\.lrr/);
});

test('a value of the wrong type names its config path', () => {
  const err = inputErrorOf(() => parseConfig('{"train": {"lr": "0.1"}}', 'cfg.json'));
  assert.match(err.message, /cfg\.json: train\.lr: /);
  assert.match(err.message, /number/);
  const ranged = inputErrorOf(() => parseConfig('{"data": {"dataset": "mnist", "preprocess": {"std": [1, 0]}}}', 'cfg.json'));
  assert.match(ranged.message, /data\.preprocess\.std\[1\]/);
  const enumValue = inputErrorOf(() => parseConfig('{"backend": "gpu"}', 'cfg.json'));
  assert.match(enumValue.message, /cfg\.json: backend: /);
});

test('dataset "idx" without paths names each missing key', () => {
  const none = inputErrorOf(() => parseConfig('{"data": {"dataset": "idx"}}', 'idx.json'));
  for (const key of ['trainImages', 'trainLabels', 'testImages', 'testLabels']) {
    assert.match(none.message, new RegExp(`data\\.${key}\\b`), none.message);
  }
  const some = inputErrorOf(() => parseConfig('{"data": {"dataset": "idx", "trainImages": "a", "trainLabels": "b"}}', 'idx.json'));
  assert.doesNotMatch(some.message, /trainImages|trainLabels/);
  assert.match(some.message, /data\.testImages/);
  assert.match(some.message, /data\.testLabels/);
  // With every path given it parses.
  const full = parseConfig(
    '{"data": {"dataset": "idx", "trainImages": "a", "trainLabels": "b", "testImages": "c", "testLabels": "d"}}',
    'idx.json',
  );
  assert.equal(full.data?.dataset, 'idx');
  assert.equal(full.data.testLabels, 'd');
});

test('prune.ratio together with prune.threshold is an error', () => {
  const err = inputErrorOf(() => parseConfig('{"prune": {"ratio": 0.5, "threshold": 0.01}}', 'p.json'));
  assert.match(err.message, /p\.json: prune/);
  assert.match(err.message, /ratio/);
  assert.match(err.message, /threshold/);
  assert.equal(parseConfig('{"prune": {"ratio": 0.5}}', 'p.json').prune.ratio, 0.5);
  assert.equal(parseConfig('{"prune": {"threshold": 0.01}}', 'p.json').prune.threshold, 0.01);
});

test('invalid JSON and a non-object config are errors naming the file', () => {
  assert.match(inputErrorOf(() => parseConfig('{"train": ', 'broken.json')).message, /^broken\.json: not valid JSON/);
  assert.match(inputErrorOf(() => parseConfig('[1, 2]', 'list.json')).message, /^list\.json: .*object/);
});

test('flag overrides set values, undefined leaves the config alone, null removes a value', () => {
  const text = JSON.stringify({ train: { lr: 0.5, epochs: 3 }, prune: { ratio: 0.3 } });
  const overrides: Override[] = [
    { path: ['train', 'lr'], value: 0.02, flag: '--lr' },
    { path: ['train', 'epochs'], value: undefined, flag: '--epochs' },
    { path: ['data', 'dataset'], value: 'mnist', flag: '--dataset' },
    // `--threshold` replaces the config's ratio instead of conflicting with it.
    { path: ['prune', 'threshold'], value: 0.05, flag: '--threshold' },
    { path: ['prune', 'ratio'], value: null, flag: '--threshold' },
  ];
  const config = parseConfig(text, 'o.json', overrides);
  assert.equal(config.train.lr, 0.02);
  assert.equal(config.train.epochs, 3);
  assert.equal(config.data?.dataset, 'mnist');
  assert.equal(config.prune.threshold, 0.05);
  assert.equal(config.prune.ratio, undefined);
  // The input text object is not mutated by overrides (parse once, override a copy).
  assert.equal(JSON.parse(text).train.lr, 0.5);
});

test('an invalid flag value names the flag and the config path', () => {
  const err = inputErrorOf(() => parseConfig('{}', 'flags', [{ path: ['train', 'lr'], value: -1, flag: '--lr' }]));
  assert.match(err.message, /train\.lr/);
  assert.match(err.message, /--lr/);
  const batch = inputErrorOf(() =>
    parseConfig('{"finetune": {"batchSize": 32}}', 'f.json', [{ path: ['finetune', 'batchSize'], value: 2.5, flag: '--batch-size' }]),
  );
  assert.match(batch.message, /finetune\.batchSize.*--batch-size/);
  // A flag that was not given is never blamed for a bad value from the file.
  const fromFile = inputErrorOf(() =>
    parseConfig('{"train": {"lr": "fast"}}', 'f.json', [{ path: ['train', 'lr'], value: undefined, flag: '--lr' }]),
  );
  assert.match(fromFile.message, /train\.lr/);
  assert.doesNotMatch(fromFile.message, /--lr/);
});

test('--replicas: a number or auto; anything else names the flag and the config path', () => {
  assert.equal(parseConfig('{}', 'flags', [replicasOverride('2')]).replicas, 2);
  assert.equal(parseConfig('{}', 'flags', [replicasOverride('auto')]).replicas, 'auto');
  assert.equal(parseConfig('{"replicas": 2}', 'f.json', [replicasOverride(undefined)]).replicas, 2);
  for (const bad of ['two', '0', '1.5']) {
    const err = inputErrorOf(() => parseConfig('{}', 'flags', [replicasOverride(bad)]));
    assert.match(err.message, /replicas.*--replicas/, bad);
  }
  assert.match(inputErrorOf(() => parseConfig('{}', 'flags', [replicasOverride('two')])).message, /positive integer or 'auto'/);
});

test("replicaSplit: 'equal' by default, --replica-split sets it, a bad value names the config path and the choices", () => {
  assert.equal(parseConfig('{}', 'f.json').replicaSplit, 'equal');
  assert.equal(parseConfig('{}', 'flags', runtimeOverrides({ 'replica-split': 'speed' })).replicaSplit, 'speed');
  assert.equal(parseConfig('{"replicaSplit": "speed"}', 'f.json', runtimeOverrides({})).replicaSplit, 'speed');
  const err = inputErrorOf(() => parseConfig('{"replicaSplit": "fastest"}', 'f.json'));
  assert.match(err.message, /^f\.json: replicaSplit: .*equal.*speed/);
});

test('loadConfig reads a file, names it in errors, and says when it is missing', async () => {
  const good = path.join(dir, 'good.json');
  await writeFile(good, JSON.stringify({ seed: 7, train: { epochs: 2 } }));
  const config = await loadConfig(good, [{ path: ['train', 'lr'], value: 0.3, flag: '--lr' }]);
  assert.equal(config.seed, 7);
  assert.equal(config.train.epochs, 2);
  assert.equal(config.train.lr, 0.3);

  const typo = path.join(dir, 'typo.json');
  await writeFile(typo, JSON.stringify({ trian: {} }));
  await assert.rejects(loadConfig(typo), (err: Error) => {
    assert.ok(err instanceof InputError);
    assert.ok(err.message.startsWith(`${typo}: `), err.message);
    assert.match(err.message, /trian/);
    return true;
  });

  const missing = path.join(dir, 'nope.json');
  await assert.rejects(loadConfig(missing), (err: Error) => {
    assert.ok(err instanceof InputError);
    assert.ok(err.message.includes(missing), err.message);
    assert.match(err.message, /no such file/);
    return true;
  });

  // No --config: defaults plus flags, errors attributed to the flags.
  const flagsOnly = await loadConfig(undefined, [{ path: ['seed'], value: 3, flag: '--seed' }]);
  assert.equal(flagsOnly.seed, 3);
});

test('the JSON Schema is generated from the zod schema and is strict', () => {
  const schema = configJsonSchema() as {
    type: string;
    additionalProperties: boolean;
    properties: Record<string, { properties?: Record<string, unknown>; additionalProperties?: boolean }>;
  };
  assert.equal(schema.type, 'object');
  assert.equal(schema.additionalProperties, false);
  for (const key of ['seed', 'backend', 'model', 'data', 'pretrain', 'train', 'prune', 'finetune', 'out']) {
    assert.ok(key in schema.properties, `schema lacks ${key}`);
  }
  assert.ok(schema.properties.train.properties && 'sparsity' in schema.properties.train.properties);
});

// `slim train` checks train.epochs before touching a backend or data, so a config whose epochs is 0
// proves the config was read from stdin and validated, in well under a second.
test('--config=- reads the config from stdin (binary)', async () => {
  const invalid = await runSlim(['train', '--config=-', '--out', path.join(dir, 'never')], { input: '{"trian": {}}' });
  assert.equal(invalid.code, 2, describeRun(invalid));
  assert.equal(invalid.stdout, '');
  assert.deepEqual(stderrLines(invalid), ['error: stdin: unknown key trian']);

  const zeroEpochs = await runSlim(['train', '--config=-', '--out', path.join(dir, 'never')], {
    input: '{"train": {"epochs": 0}}',
  });
  assert.equal(zeroEpochs.code, 2, describeRun(zeroEpochs));
  assert.match(zeroEpochs.stderr, /train\.epochs/);
});

test('--config - (separate "-" argument) reads the config from stdin (binary)', async () => {
  const result = await runSlim(['train', '--config', '-', '--out', path.join(dir, 'never')], { input: '{"trian": {}}' });
  assert.equal(result.code, 2, describeRun(result));
  assert.deepEqual(stderrLines(result), ['error: stdin: unknown key trian']);
});
