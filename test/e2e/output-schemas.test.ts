/**
 * Versioned outputs: real documents from the built binary (each command's --json, run.json and
 * prune-plan.json of a tiny run) carry schemaVersion and validate against the JSON Schemas that
 * `slim schema --output NAME` prints, checked with a JSON Schema validator (ajv, draft 2020-12).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { describeRun, runSlim, STACK_FRAME, stderrLines, type SlimResult } from '../helpers/cli.js';
import { writeTinyInputs, type TinyInputs } from '../helpers/tiny-inputs.js';
import { OUTPUT_NAMES, outputJsonSchema, SCHEMA_VERSION, type OutputName } from '../../src/config/outputs.js';

let dir: string;
let inputs: TinyInputs;
const validators = new Map<OutputName, ValidateFunction>();
const PRINTED: OutputName[] = ['run', 'prune-plan'];

/** stdout of a run that must exit with `code` (default 0), parsed as the one JSON document. */
function documentOf(result: SlimResult, code = 0): unknown {
  assert.equal(result.code, code, describeRun(result));
  return JSON.parse(result.stdout) as unknown;
}

/** Runs the argument lists two at a time (the machine's cores), in order. */
async function inPairs(runs: string[][]): Promise<SlimResult[]> {
  const results: SlimResult[] = [];
  for (let i = 0; i < runs.length; i += 2) results.push(...(await Promise.all(runs.slice(i, i + 2).map((args) => runSlim(args)))));
  return results;
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-output-schemas-'));
  inputs = await writeTinyInputs(path.join(dir, 'in'));
  // One process per name would cost seconds each: the binary prints two of them, and the test
  // checks that what it prints is outputJsonSchema's result (what the command calls) for those.
  const printed = await inPairs(PRINTED.map((name) => ['schema', '--output', name]));
  PRINTED.forEach((name, i) => assert.deepEqual(documentOf(printed[i]), outputJsonSchema(name), `schema --output ${name}`));
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  for (const name of OUTPUT_NAMES) validators.set(name, ajv.compile(outputJsonSchema(name) as object));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function assertValid(name: OutputName, document: unknown, where: string): void {
  const validate = validators.get(name)!;
  assert.ok(validate(document), `${where} against --output ${name}: ${JSON.stringify(validate.errors, null, 1)}`);
  assert.equal((document as { schemaVersion: unknown }).schemaVersion, SCHEMA_VERSION, where);
}

describe('real outputs against the printed JSON Schemas', () => {
  test('run --json, run.json and the run’s prune-plan.json', async () => {
    const out = path.join(dir, 'run');
    const stdout = documentOf(await runSlim(['run', '--config', inputs.runConfig, '--out', out, '--json']));
    assertValid('run', stdout, 'run --json');
    const file = JSON.parse(await readFile(path.join(out, 'run.json'), 'utf8')) as unknown;
    assertValid('run', file, 'run.json');
    assert.deepEqual(file, stdout);
    assertValid(
      'prune-plan',
      JSON.parse(await readFile(path.join(out, 'pruned', 'prune-plan.json'), 'utf8')),
      'run/pruned/prune-plan.json',
    );
  });

  test('prune, prune --dry-run, report, export, eval, train, sweep, doctor and --version, each with --json', async () => {
    const pruned = path.join(dir, 'pruned');
    // The pruned model is made first; the rest run two at a time. sweep takes the unsparsified model (it warns, and scores).
    const prune = await runSlim(['prune', '--model', inputs.model, '--ratio', '0.5', '--out', pruned, '--json']);
    assertValid('prune', documentOf(prune), 'prune --json');
    assertValid('prune-plan', JSON.parse(await readFile(path.join(pruned, 'prune-plan.json'), 'utf8')), 'prune-plan.json');
    const [train, dryRun, report, exported, evaluated, sweep, doctor, version] = await inPairs([
      ['train', '--model', inputs.model, '--config', inputs.config, '--out', path.join(dir, 'sparse'), '--epochs', '2', '--json'],
      ['prune', '--model', inputs.model, '--ratio', '0.5', '--dry-run', '--json'],
      ['report', '--model', pruned, '--baseline', inputs.model, '--json'],
      ['export', '--model', pruned, '--out', path.join(dir, 'exported'), '--json'],
      ['eval', '--model', pruned, '--config', inputs.config, '--json'],
      ['sweep', '--model', inputs.model, '--config', inputs.config, '--ratios', '0.3,0.5', '--json'],
      ['doctor', '--json'],
      ['--version', '--json'],
    ]);
    // finetune --json is the same document as train --json (runTrainingCommand writes both).
    assertValid('train', documentOf(train), 'train --json');
    // Epochs count from 1, in --json and on stderr (test/e2e/cli-outputs-small.test.ts checks finetune).
    assert.deepEqual(
      (documentOf(train) as { epochs: Array<{ epoch: number }> }).epochs.map((e) => e.epoch),
      [1, 2],
    );
    assert.match(train.stderr, /epoch 1\/2/);
    assertValid('prune-plan', documentOf(dryRun), 'prune --dry-run --json');
    assertValid('report', documentOf(report), 'report --json');
    assertValid('export', documentOf(exported), 'export --json');
    assertValid('eval', documentOf(evaluated), 'eval --json');
    assertValid('sweep', documentOf(sweep), 'sweep --json');
    // doctor exits 1 when a GPU is present that slim cannot use; its document is the same shape.
    assertValid('doctor', documentOf(doctor, doctor.code === 1 ? 1 : 0), 'doctor --json');
    assertValid('version', documentOf(version), '--version --json');
    // One JSON document of exactly these keys (was cli-outputs-small's '--version --json is one JSON document').
    assert.deepEqual(Object.keys(documentOf(version) as object), ['schemaVersion', 'version']);
  });

  test('the schemas are strict: a field the schema does not know, or another schemaVersion, fails', () => {
    const validate = validators.get('version')!;
    assert.ok(validate({ schemaVersion: SCHEMA_VERSION, version: '1.0.0' }));
    assert.ok(!validate({ schemaVersion: SCHEMA_VERSION, version: '1.0.0', extra: 1 }));
    assert.ok(!validate({ schemaVersion: SCHEMA_VERSION + 1, version: '1.0.0' }));
    assert.ok(!validate({ version: '1.0.0' }));
  });
});

test('schema --output bogus: one error line listing the names, exit 2', async () => {
  const result = await runSlim(['schema', '--output', 'bogus']);
  assert.equal(result.code, 2, describeRun(result));
  assert.equal(result.stdout, '');
  assert.doesNotMatch(result.stderr, STACK_FRAME);
  assert.deepEqual(stderrLines(result), [`error: --output bogus: not a document slim writes; one of ${OUTPUT_NAMES.join(', ')}`]);
});
