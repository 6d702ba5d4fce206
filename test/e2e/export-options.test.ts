/**
 * `slim export`'s quantization, fusion and graph options through the built binary: the --json
 * document, what stderr says, and every bad input of the feature as one `error:` line with its
 * exit code and nothing written. Of the bad inputs, --quantize int4 and the NaN weights go through
 * the binary; the others are parsed and run in-process by the same buildCli, their error mapped by
 * main()'s describeFailure (test/helpers/cli-in-process.ts): same line, same exit code.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fromLayersModel } from '../../src/model/convert.js';
import { writeModel } from '../../src/model/io.js';
import { refusalInProcess } from '../helpers/cli-in-process.js';
import { describeRun, exists, runSlim, stderrLines, STACK_FRAME, type SlimResult } from '../helpers/cli.js';
import { loadWithStockTfjs } from '../helpers/stock-load.js';

let dir: string;
let cnn: string;
let lstm: string;
before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(tmpdir(), 'slim-export-options-'));
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({
        filters: 4,
        kernelSize: 3,
        inputShape: [6, 6, 1],
        kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }),
        name: 'conv',
      }),
      tf.layers.activation({ activation: 'relu', name: 'conv_relu' }),
      tf.layers.dropout({ rate: 0.5, name: 'drop' }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }), name: 'fc' }),
    ],
  });
  cnn = await writeModel(path.join(dir, 'cnn'), await fromLayersModel(model));
  model.dispose();
  const rnn = tf.sequential({ layers: [tf.layers.simpleRNN({ units: 2, inputShape: [3, 2], name: 'rnn' })] });
  lstm = await writeModel(path.join(dir, 'rnn'), await fromLayersModel(rnn));
  rnn.dispose();
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Exactly one stderr line starts with `error:`, it matches `pattern`, and no stack trace was printed. */
/** assertOneError's checks on a run in-process: the one error line is main()'s, so the command printed none. */
async function assertOneErrorInProcess(args: string[], code: number, pattern: RegExp): Promise<void> {
  const refusal = await refusalInProcess(args);
  const why = `slim ${args.join(' ')}: ${JSON.stringify(refusal)}`;
  assert.equal(refusal.exitCode, code, why);
  assert.match(`error: ${refusal.line}`, pattern, why);
  assert.ok(!refusal.stderr.split('\n').some((l) => l.startsWith('error:')), why);
  assert.doesNotMatch(refusal.stderr, STACK_FRAME, why);
  assert.equal(refusal.stdout, '', why);
}

function assertOneError(result: SlimResult, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, describeRun(result));
  const errors = stderrLines(result).filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, describeRun(result));
  assert.match(errors[0], pattern);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
  assert.equal(result.stdout, '');
}

describe('slim export options (built binary)', () => {
  it('--quantize uint8 --json: bytes before -> after, the rewrites, and a model stock tfjs loads', async () => {
    const out = path.join(dir, 'q8');
    const result = await runSlim(['export', '--model', cnn, '--out', out, '--backend', 'cpu', '--quantize', 'uint8', '--json']);
    assert.equal(result.code, 0, describeRun(result));
    const doc = JSON.parse(result.stdout) as {
      weightBytes: { before: { raw: number; gzip: number }; after: { raw: number; gzip: number } };
      rewrites: { kind: string; layer: string }[];
      quantization: { weights: Record<string, { dtype: string }>; check: { maxAbsDiff: number; tolerance: number } };
    };
    assert.equal(doc.weightBytes.after.raw * 4, doc.weightBytes.before.raw);
    assert.ok(doc.weightBytes.after.gzip < doc.weightBytes.before.gzip);
    assert.deepEqual(
      doc.rewrites.map((r) => [r.kind, r.layer]),
      [
        ['dropped', 'drop'],
        ['fused', 'conv_relu'],
        ['as-conv', 'fc'],
      ],
    );
    // The Flatten -> Dense head runs as a conv named fc_conv; a Reshape named fc restores the output.
    assert.deepEqual(Object.keys(doc.quantization.weights).sort(), ['conv/bias', 'conv/kernel', 'fc_conv/bias', 'fc_conv/kernel']);
    assert.ok(doc.quantization.check.maxAbsDiff <= doc.quantization.check.tolerance);
    assert.match(result.stderr, /^weights .* -> .* raw, .* -> .* gzip$/m);
    assert.match(result.stderr, /^fused conv_relu \(Activation\) into conv as activation 'relu'$/m);
    const model = await loadWithStockTfjs(path.join(out, 'model.json'));
    model.dispose();

    // Exporting that quantized model again says it was quantized, dequantizes and requantizes.
    const again = await runSlim(['export', '--model', out, '--out', path.join(dir, 'q8-again'), '--backend', 'cpu', '--quantize', 'uint8']);
    assert.equal(again.code, 0, describeRun(again));
    assert.match(again.stderr, /input weights were stored quantized \(uint8 4 weights\): dequantized on read, quantized again as asked/);
    const float = await runSlim(['export', '--model', out, '--out', path.join(dir, 'q8-float'), '--backend', 'cpu']);
    assert.match(float.stderr, /dequantized on read, written as float32 \(--quantize keeps them small\)/);
  });

  it('--format graph --quantize float16 --no-dense-as-conv writes a graph model with the Dense kept', async () => {
    const out = path.join(dir, 'graph16');
    const result = await runSlim([
      'export',
      '--model',
      cnn,
      '--out',
      out,
      '--backend',
      'cpu',
      '--format',
      'graph',
      '--quantize',
      'float16',
      '--no-dense-as-conv',
    ]);
    assert.equal(result.code, 0, describeRun(result));
    const json = JSON.parse(await readFile(path.join(out, 'model.json'), 'utf8')) as {
      format: string;
      weightsManifest: { weights: { quantization?: { dtype: string } }[] }[];
    };
    assert.equal(json.format, 'graph-model');
    assert.ok(json.weightsManifest[0].weights.some((w) => w.quantization?.dtype === 'float16'));
    assert.match(result.stderr, /graph model: .*_FusedConv2D ×1.*_FusedMatMul ×1/);
  });

  it('bad input: one error line each, the documented exit code, nothing written', async () => {
    const cases: { args: string[]; code: number; pattern: RegExp }[] = [
      { args: ['--quantize', 'int4'], code: 2, pattern: /quantize/ },
      { args: ['--quantize-uint8', 'dense*'], code: 2, pattern: /^error: --quantize-uint8: pattern 'dense\*' matches no weight/ },
      {
        args: ['--quantize', 'uint8', '--max-output-drift', '1e-9'],
        code: 1,
        pattern: /moved the outputs by up to .* --max-output-drift.*not written/,
      },
      { args: ['--max-drop', '0.5'], code: 2, pattern: /--max-drop needs --config/ },
      { args: ['--quantize', 'uint8', '--format', 'keras'], code: 2, pattern: /Keras files store float32 weights only/ },
    ];
    for (const [i, c] of cases.entries()) {
      const out = path.join(dir, 'never');
      const args = ['export', '--model', cnn, '--out', out, '--backend', 'cpu', ...c.args];
      if (i === 0) assertOneError(await runSlim(args), c.code, c.pattern);
      else await assertOneErrorInProcess(args, c.code, c.pattern);
      assert.equal(await exists(out), false, `${c.args.join(' ')} left ${out} behind`);
    }
    await assertOneErrorInProcess(
      ['export', '--model', lstm, '--out', path.join(dir, 'never'), '--backend', 'cpu', '--format', 'graph'],
      2,
      /^error: --format graph: layer 'rnn' \(SimpleRNN\) has no graph-model form in slim; export it with --format layers/,
    );
  });

  it('NaN weights are refused on read', async () => {
    const bad = path.join(dir, 'nan');
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [2], name: 'd' })] });
    const artifacts = await fromLayersModel(model);
    model.dispose();
    artifacts.weights.get('d/kernel')!.data[1] = NaN;
    await writeModel(bad, artifacts);
    const result = await runSlim(['export', '--model', bad, '--out', path.join(dir, 'never'), '--backend', 'cpu', '--quantize', 'uint8']);
    assertOneError(result, 2, /weight 'd\/kernel' holds NaN/);
  });
});
