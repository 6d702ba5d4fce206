/**
 * `slim sweep --emit k8s|github|slurm`: the manifests parse as YAML (the maintained `yaml`
 * package), the Kubernetes Indexed Job validates against the Kubernetes schema
 * (`kubernetes-models`), and every task runs its shard of the plan folder.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Job } from 'kubernetes-models/batch/v1';
import { parse } from 'yaml';
import { configSchema } from '../src/config/schema.js';
import { emitManifest, toYaml, type ManifestOptions } from '../src/executors/manifests.js';
import type { SweepPlan } from '../src/executors/plan.js';
import { VERSION } from '../src/version.js';

/** A plan as plan.json holds it (manifests read only its candidates and working folder). */
const plan: SweepPlan = {
  format: 'slim-sweep-plan-1',
  version: VERSION,
  modelHash: 'f'.repeat(64),
  source: '/shared/sparse/model.json',
  cwd: '/shared/work',
  config: configSchema.parse({ backend: 'wasm' }),
  finetuneEpochs: 1,
  candidates: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9].map((ratio) => ({ ratio, replicas: 1 })),
  split: 'val',
  examples: 100,
  baseline: { accuracy: 0.9, loss: 0.3, channels: 24, params: 1000, macs: 10000 },
  fingerprint: '0'.repeat(64),
};
const options: ManifestOptions = { image: 'registry.example/slim:0.1.0', claimName: 'sweeps', command: 'npx slim', maxParallel: 3 };

test('--emit k8s: an Indexed Job valid by the Kubernetes schema, one index per candidate, the plan folder mounted', () => {
  const manifest = parse(emitManifest('k8s', '/shared/work/plan', plan, options)) as Record<string, unknown>;
  const job = new Job(manifest);
  job.validate();
  assert.equal(job.spec?.completionMode, 'Indexed');
  assert.equal(job.spec?.completions, 9);
  assert.equal(job.spec?.parallelism, 3);
  const container = job.spec.template.spec!.containers[0];
  assert.equal(container.image, 'registry.example/slim:0.1.0');
  assert.deepEqual(container.command, ['npx', 'slim', 'sweep', '--plan', '/shared/work/plan', '--shard', 'env']);
  assert.deepEqual(container.env, [{ name: 'SLIM_SHARD_COUNT', value: '9' }]);
  assert.equal(container.workingDir, '/shared/work');
  assert.deepEqual(container.volumeMounts, [{ name: 'plan', mountPath: '/shared/work/plan' }]);
  assert.deepEqual(job.spec.template.spec!.volumes, [{ name: 'plan', persistentVolumeClaim: { claimName: 'sweeps' } }]);
  // An invalid manifest does fail the same validation (the check can fail).
  const broken = structuredClone(manifest) as { spec: { completions: unknown } };
  broken.spec.completions = 'nine';
  assert.throws(() => new Job(broken as ConstructorParameters<typeof Job>[0]).validate());
});

test('--emit github: a matrix over the candidates, each job one shard, then a job gathering their results', () => {
  const workflow = parse(emitManifest('github', '/shared/work/plan', plan, options)) as {
    on: Record<string, unknown>;
    jobs: Record<
      string,
      {
        needs?: string;
        strategy?: { matrix: { shard: number[] }; 'max-parallel': number };
        env?: Record<string, string>;
        steps: { run?: string; uses?: string; with?: Record<string, unknown> }[];
      }
    >;
  };
  assert.ok('workflow_dispatch' in workflow.on);
  const candidate = workflow.jobs.candidate;
  assert.deepEqual(candidate.strategy?.matrix.shard, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(candidate.strategy?.['max-parallel'], 3);
  assert.equal(candidate.env?.SLIM_SHARD, '${{ matrix.shard }}/9');
  assert.ok(candidate.steps.some((s) => s.run === 'npx slim sweep --plan plan --shard env'));
  assert.equal(workflow.jobs.gather.needs, 'candidate');
  assert.ok(workflow.jobs.gather.steps.some((s) => s.run === 'npx slim sweep --gather plan --json > sweep.json'));
});

test('--emit slurm: the batch script of the executor (array of every candidate, %K, requeue, the shard of each task)', () => {
  const script = emitManifest('slurm', '/shared/work/plan', plan, { ...options, sbatchArgs: '--partition=gpu --time=2:00:00' });
  assert.match(script, /^#!\/bin\/bash\n/);
  assert.match(script, /^#SBATCH --array=0-8%3$/m);
  assert.match(script, /^#SBATCH --requeue$/m);
  assert.match(script, /^#SBATCH --chdir=\/shared\/work$/m);
  assert.match(script, /^#SBATCH --output=\/shared\/work\/plan\/logs\/%A_%a\.log$/m);
  assert.match(script, /^#SBATCH --partition=gpu$/m);
  assert.match(script, /^#SBATCH --time=2:00:00$/m);
  assert.match(script, /sweep --plan '\/shared\/work\/plan' --shard "\$\{SLURM_ARRAY_TASK_ID\}\/9"$/m);
});

test('toYaml: nested maps and lists, quoted strings and empty values read back as the same data', () => {
  const value = { a: 'x: "y"', b: [1, { c: [], d: {} }, ['p', true]], e: { f: 'with\nnewline' } };
  assert.deepEqual(parse(toYaml(value)), value);
});
