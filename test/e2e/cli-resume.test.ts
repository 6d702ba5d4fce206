/**
 * Interrupt and resume through the built binary (wasm backend, 256 MNIST images, 4-M-8 VGG): SIGINT
 * during `slim train` saves a checkpoint, prints one line and exits 130; `--resume` ends with the
 * weights of an uninterrupted run; a second SIGINT exits at once and keeps the last checkpoint;
 * resuming without a checkpoint, or with another config, is refused with one line; `run --resume`
 * skips the stages a stopped run completed. And a trained model carries its preprocessing: eval
 * with a config that gives none evaluates like the config it was trained with.
 *
 * What is checked here is what the CLI adds (exit 130, the one line, the files on disk, the
 * --resume wiring). The signal is sent once epoch 1's line is out, with a whole epoch left, so the
 * run is stopped mid-way however loaded the machine. Resuming mid-epoch bit for bit (alone and
 * with replicas) and the checkpoint round trip are test/resume.test.ts's, in-process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { describeRun, exists, REPO_ROOT, runSlim, SLIM_BIN, STACK_FRAME, stderrLines, type SlimResult } from '../helpers/cli.js';
import { loadWithStockTfjs } from '../helpers/stock-load.js';

let dir: string;
let config: string;
/** The config without data.preprocess: the model's recorded one must apply. */
let configWithoutPreprocess: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-cli-resume-'));
  config = path.join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({
      seed: 1,
      backend: 'wasm',
      model: { type: 'vgg', cfg: [4, 'M', 8] },
      data: { dataset: 'mnist', trainLimit: 256, testLimit: 100, validationSplit: 0, preprocess: { mean: [0.1307], std: [0.3081] } },
      train: { epochs: 3, batchSize: 32, lr: 0.05 },
      prune: { ratio: 0.5 },
      finetune: { epochs: 2, batchSize: 32, lr: 0.01 },
      bench: { runtimes: [] }, // run's speed measurement is test/e2e/run-bench.test.ts's
    }),
  );
  const parsed = JSON.parse(await readFile(config, 'utf8')) as { data: Record<string, unknown> };
  delete parsed.data.preprocess;
  configWithoutPreprocess = path.join(dir, 'config-no-preprocess.json');
  await writeFile(configWithoutPreprocess, JSON.stringify(parsed));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Starts slim and sends SIGINT `signals` times (back to back) once `ready` holds for the stderr so
 * far or the file system (polled); resolves to the run's result.
 */
function interruptedSlim(args: string[], ready: (stderr: string) => Promise<boolean>, signals = 1): Promise<SlimResult> {
  return new Promise((resolve, reject) => {
    const { FORCE_COLOR: _force, NODE_OPTIONS: _nodeOptions, ...inherited } = process.env;
    const child = spawn(process.execPath, [SLIM_BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...inherited, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const poll = setInterval(() => {
      if (sent) return;
      void ready(stderr).then((go) => {
        if (!go || sent) return;
        sent = true;
        for (let i = 0; i < signals; i++) child.kill('SIGINT');
      });
    }, 20);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(poll);
      resolve({ code: code ?? (signal ? 129 : 2), stdout, stderr });
    });
  });
}

async function weightsOf(modelDir: string): Promise<Float32Array> {
  const bytes = await readFile(path.join(modelDir, 'weights.bin'));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

function assertClose(actual: Float32Array, expected: Float32Array): void {
  assert.equal(actual.length, expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  assert.ok(worst <= 1e-6, `largest weight difference ${worst}`);
}

function assertOneErrorLine(result: SlimResult, pattern: RegExp): void {
  assert.equal(result.code, 2, describeRun(result));
  const errors = stderrLines(result).filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, result.stderr);
  assert.match(errors[0], pattern);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
}

test('train: SIGINT saves a checkpoint and exits 130 with one line; --resume ends with the uninterrupted weights', async () => {
  const straightOut = path.join(dir, 'straight');
  const straight = await runSlim(['train', '--config', config, '--out', straightOut]);
  assert.equal(straight.code, 0, describeRun(straight));

  const out = path.join(dir, 'stopped');
  const checkpoint = `${out}.checkpoint`;
  const args = ['train', '--config', config, '--out', out];
  const stopped = await interruptedSlim(args, async (stderr) => /epoch 1\/3:/.test(stderr));
  assert.equal(stopped.code, 130, describeRun(stopped));
  assert.equal(stopped.stdout, '');
  const lines = stderrLines(stopped).filter((l) => /interrupted|error/.test(l));
  assert.deepEqual(lines, [`interrupted: checkpoint saved to ${checkpoint}; resume with: slim ${args.join(' ')} --resume`]);
  assert.equal(await exists(out), false, 'no --out before the stage completes');
  assert.ok(await exists(path.join(checkpoint, 'checkpoint.json')));

  // Another config (here: another lr) does not resume this checkpoint, and leaves it in place.
  assertOneErrorLine(await runSlim([...args, '--lr', '0.02', '--resume']), /checkpoint of a different config/);
  assert.ok(await exists(path.join(checkpoint, 'checkpoint.json')));

  const resumed = await runSlim([...args, '--resume']);
  assert.equal(resumed.code, 0, describeRun(resumed));
  assert.match(resumed.stderr, /resuming from .* at epoch [23]/);
  assert.equal(await exists(checkpoint), false, 'the checkpoint is removed once the stage completes');
  assertClose(await weightsOf(out), await weightsOf(straightOut));
  // The epoch log covers every epoch, those before the interruption included.
  const log = (await readFile(path.join(out, 'train-log.jsonl'), 'utf8')).trim().split('\n');
  assert.deepEqual(
    log.map((l) => (JSON.parse(l) as { epoch: number }).epoch),
    [1, 2, 3], // train-log.jsonl numbers epochs from 1, like stderr
  );
});

test('train: a second SIGINT exits at once and the last epoch checkpoint stays', async () => {
  const out = path.join(dir, 'twice');
  const checkpointJson = path.join(`${out}.checkpoint`, 'checkpoint.json');
  const result = await interruptedSlim(['train', '--config', config, '--out', out], () => exists(checkpointJson), 2);
  assert.equal(result.code, 130, describeRun(result));
  const saved = JSON.parse(await readFile(checkpointJson, 'utf8')) as { nextEpoch: number; nextStep: number };
  assert.ok(saved.nextEpoch >= 1, `checkpoint at epoch ${saved.nextEpoch}`);
  assert.equal(await exists(out), false);
});

test('train --resume without a checkpoint: exit 2, one line', async () => {
  assertOneErrorLine(
    await runSlim(['train', '--config', config, '--out', path.join(dir, 'never'), '--resume']),
    /--resume: no checkpoint at .*never\.checkpoint/,
  );
});

test('run: SIGINT in fine-tuning exits 130; run --resume skips the completed stages, resumes fine-tuning, removes the checkpoints', async () => {
  const out = path.join(dir, 'run');
  const args = ['run', '--config', config, '--out', out, '--train-epochs', '1'];
  const stopped = await interruptedSlim(args, async (stderr) => /fine-tune:[\s\S]*epoch 1\/2:/.test(stderr));
  assert.equal(stopped.code, 130, describeRun(stopped));
  const lines = stderrLines(stopped).filter((l) => /interrupted|error/.test(l));
  assert.deepEqual(lines, [
    `interrupted: checkpoint saved to ${path.join(out, 'checkpoints', 'finetune')}; resume with: slim ${args.join(' ')} --resume`,
  ]);
  assert.equal(await exists(path.join(out, 'finetuned')), false);
  assert.equal(await exists(path.join(out, 'run.json')), false);

  const resumed = await runSlim([...args, '--resume']);
  assert.equal(resumed.code, 0, describeRun(resumed));
  assert.match(resumed.stderr, /train: already complete/);
  assert.match(resumed.stderr, /prune: already complete/);
  assert.match(resumed.stderr, /fine-tune: resuming from .*checkpoints\/finetune at epoch 2/);
  assert.doesNotMatch(resumed.stderr, /sparsity train:/, 'sparsity training did not run again');
  assert.ok(await exists(path.join(out, 'finetuned', 'model.json')));
  assert.ok(await exists(path.join(out, 'run.json')));
  assert.equal(await exists(path.join(out, 'checkpoints')), false);
  const log = (await readFile(path.join(out, 'finetuned', 'finetune-log.jsonl'), 'utf8')).trim().split('\n');
  assert.equal(log.length, 2);
});

test('a trained model carries its preprocessing: eval without data.preprocess matches eval with it; a different one warns', async () => {
  const modelDir = path.join(dir, 'straight'); // trained by the first test of this file
  const modelJson = JSON.parse(await readFile(path.join(modelDir, 'model.json'), 'utf8')) as { userDefinedMetadata?: { slim?: unknown } };
  assert.deepEqual(modelJson.userDefinedMetadata?.slim, {
    preprocess: { scale: 1 / 255, mean: [0.1307], std: [0.3081] },
    inputSize: [28, 28],
    channels: 1,
  });
  const stock = await loadWithStockTfjs(path.join(modelDir, 'model.json'));
  assert.deepEqual(stock.getUserDefinedMetadata(), modelJson.userDefinedMetadata);
  stock.dispose();
  tf.disposeVariables();

  const withIt = await runSlim(['eval', '--model', modelDir, '--config', config, '--json']);
  const without = await runSlim(['eval', '--model', modelDir, '--config', configWithoutPreprocess, '--json']);
  assert.equal(withIt.code, 0, describeRun(withIt));
  assert.equal(without.code, 0, describeRun(without));
  assert.equal((JSON.parse(without.stdout) as { top1: number }).top1, (JSON.parse(withIt.stdout) as { top1: number }).top1);
  // The model trained one short epoch: a chance-level warning may stand beside; no other warning may.
  const otherWarnings = (r: SlimResult) => stderrLines(r).filter((l) => l.startsWith('warning:') && !/ is at chance level /.test(l));
  assert.deepEqual(otherWarnings(withIt), []);

  const otherConfig = path.join(dir, 'config-other-preprocess.json');
  const parsed = JSON.parse(await readFile(config, 'utf8')) as { data: { preprocess: unknown } };
  parsed.data.preprocess = { mean: [0.5], std: [0.5] };
  await writeFile(otherConfig, JSON.stringify(parsed));
  const differing = await runSlim(['eval', '--model', modelDir, '--config', otherConfig]);
  assert.equal(differing.code, 0, describeRun(differing));
  const warnings = otherWarnings(differing);
  assert.equal(warnings.length, 1, differing.stderr);
  assert.match(warnings[0], /data\.preprocess .* differs from the model's .*using the config's/);
});
