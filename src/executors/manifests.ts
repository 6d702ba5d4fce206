/**
 * Manifests for engines slim does not drive itself: a Kubernetes Indexed Job (one index per
 * candidate, the plan folder mounted from a PersistentVolumeClaim at the same path), a GitHub
 * Actions matrix workflow (plan folder in the repository, candidates as artifacts, a gather job),
 * and the Slurm batch script the Slurm executor submits. Each task runs
 * `slim sweep --plan DIR --shard ...`; the plan folder is all they share.
 */
import path from 'node:path';
import type { SweepPlan } from './plan.js';
import { slurmScript } from './slurm.js';

export interface ManifestOptions {
  maxParallel?: number;
  sbatchArgs?: string;
  image: string;
  claimName: string;
  command: string;
}

type Yaml = string | number | boolean | Yaml[] | { [key: string]: Yaml | undefined };

/** Block-style YAML of plain data; strings are JSON-quoted (a valid YAML double-quoted scalar). */
export function toYaml(value: Yaml, indent = ''): string {
  const scalar = (v: string | number | boolean) => (typeof v === 'string' ? JSON.stringify(v) : String(v));
  const isBlock = (v: Yaml) => typeof v === 'object' && (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0);
  const empty = (v: Yaml) => (Array.isArray(v) ? '[]' : '{}');
  if (Array.isArray(value)) {
    return value
      .map((item) => {
        if (!isBlock(item)) return `${indent}- ${typeof item === 'object' ? empty(item) : scalar(item)}`;
        const body = toYaml(item, `${indent}  `);
        return `${indent}- ${body.slice(indent.length + 2)}`;
      })
      .join('\n');
  }
  if (typeof value !== 'object') return `${indent}${scalar(value)}`;
  return Object.entries(value)
    .filter((entry): entry is [string, Yaml] => entry[1] !== undefined)
    .map(([key, v]) => {
      if (isBlock(v)) return `${indent}${key}:\n${toYaml(v, `${indent}  `)}`;
      return `${indent}${key}: ${typeof v === 'object' ? empty(v) : scalar(v)}`;
    })
    .join('\n');
}

const splitCommand = (command: string) => command.split(/\s+/).filter((p) => p !== '');

/** A Kubernetes batch/v1 Indexed Job: completions = candidates, parallelism = --max-parallel (default all). */
export function kubernetesJob(dir: string, plan: SweepPlan, options: ManifestOptions): Record<string, Yaml> {
  const absolute = path.resolve(dir);
  const n = plan.candidates.length;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'slim-sweep', labels: { app: 'slim-sweep' } },
    spec: {
      completionMode: 'Indexed',
      completions: n,
      parallelism: Math.min(n, options.maxParallel ?? n),
      // A retried index skips what it finished and resumes its fine-tune checkpoint.
      backoffLimitPerIndex: 3,
      template: {
        metadata: { labels: { app: 'slim-sweep' } },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'slim',
              image: options.image,
              workingDir: plan.cwd,
              command: [...splitCommand(options.command), 'sweep', '--plan', absolute, '--shard', 'env'],
              env: [{ name: 'SLIM_SHARD_COUNT', value: String(n) }],
              volumeMounts: [{ name: 'plan', mountPath: absolute }],
            },
          ],
          volumes: [{ name: 'plan', persistentVolumeClaim: { claimName: options.claimName } }],
        },
      },
    },
  };
}

/** A GitHub Actions workflow: one matrix job per candidate, then a job gathering their results. */
export function githubWorkflow(dir: string, plan: SweepPlan, options: ManifestOptions): Record<string, Yaml> {
  const n = plan.candidates.length;
  const planDir = path.relative(plan.cwd, path.resolve(dir)) || '.';
  const slim = options.command;
  const setup: Yaml[] = [{ uses: 'actions/checkout@v4' }, { uses: 'actions/setup-node@v4', with: { 'node-version': '20' } }];
  return {
    name: 'slim sweep',
    on: { workflow_dispatch: {} },
    jobs: {
      candidate: {
        'runs-on': 'ubuntu-latest',
        strategy: {
          'fail-fast': false,
          ...(options.maxParallel !== undefined ? { 'max-parallel': options.maxParallel } : {}),
          matrix: { shard: plan.candidates.map((_, i) => i) },
        },
        env: { SLIM_SHARD: `\${{ matrix.shard }}/${n}` },
        steps: [
          ...setup,
          { run: `${slim} sweep --plan ${planDir} --shard env` },
          {
            uses: 'actions/upload-artifact@v4',
            with: { name: 'candidate-${{ matrix.shard }}', path: `${planDir}/candidates/` },
          },
        ],
      },
      gather: {
        needs: 'candidate',
        'runs-on': 'ubuntu-latest',
        steps: [
          ...setup,
          {
            uses: 'actions/download-artifact@v4',
            with: { pattern: 'candidate-*', path: `${planDir}/candidates/`, 'merge-multiple': true },
          },
          { run: `${slim} sweep --gather ${planDir} --json > sweep.json` },
          { uses: 'actions/upload-artifact@v4', with: { name: 'sweep', path: 'sweep.json' } },
        ],
      },
    },
  };
}

export function emitManifest(kind: 'k8s' | 'slurm' | 'github', dir: string, plan: SweepPlan, options: ManifestOptions): string {
  if (kind === 'slurm') return slurmScript(dir, plan, options).trimEnd();
  return toYaml(kind === 'k8s' ? kubernetesJob(dir, plan, options) : githubWorkflow(dir, plan, options));
}
