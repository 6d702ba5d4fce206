/** The real machine behind `slim doctor`'s probes: child processes, folders, installed packages. */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { initWasmBackend } from './wasm.js';
import type { CommandOutcome, DoctorProbes } from './doctor.js';

/** undefined when the program does not exist; otherwise its stdout, or a one-line reason it failed. */
function runProgram(program: string, args: string[]): CommandOutcome | undefined {
  const result = spawnSync(program, args, { encoding: 'utf8', timeout: 20_000 });
  if (result.error?.code === 'ENOENT') return undefined;
  if (result.error) return { ok: false, output: result.error.message };
  if (result.status !== 0) {
    const said = `${result.stderr ?? ''}\n${result.stdout ?? ''}`
      .split('\n')
      .find((line) => line.trim() !== '')
      ?.trim();
    return { ok: false, output: `exit ${result.status ?? result.signal}${said ? `: ${said}` : ''}` };
  }
  return { ok: true, output: result.stdout };
}

function packageVersion(packageJsonPath: string): string | undefined {
  const parsed = JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { version?: unknown };
  return typeof parsed.version === 'string' ? parsed.version : undefined;
}

function packageInfo(name: string): { version: string; coreVersion?: string } | undefined {
  const require = createRequire(import.meta.url);
  let packageJson: string;
  try {
    packageJson = require.resolve(`${name}/package.json`);
  } catch {
    return undefined;
  }
  const version = packageVersion(packageJson) ?? '?';
  try {
    // The tfjs-core the package itself resolves: its own nested copy when versions differ.
    const coreJson = createRequire(packageJson).resolve('@tensorflow/tfjs-core/package.json');
    return { version, coreVersion: packageVersion(coreJson) };
  } catch {
    return { version };
  }
}

export const machineProbes: DoctorProbes = {
  importModule: (name) => import(name),
  initWasm: initWasmBackend,
  packageInfo,
  nvidiaSmi: (args) => runProgram('nvidia-smi', args),
  ldconfigOutput: () => {
    for (const program of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
      const result = runProgram(program, ['-p']);
      if (result?.ok) return result.output;
    }
    return undefined;
  },
  env: process.env,
  listDir: (dir) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  },
  nodeVersion: process.version,
};
