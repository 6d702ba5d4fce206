/**
 * What `slim run --resume` needs to skip finished stages: `<out>/checkpoints/run-state.json` lists
 * each completed stage (its model folder, accuracy, time) under a fingerprint of the run (slim
 * version, config, input model); the interrupted training stage keeps its own checkpoint in
 * `<out>/checkpoints/<stage>/`. The whole `checkpoints/` folder is removed when the run completes.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type * as tf from '#tfjs';
import type { Config } from '../config/schema.js';
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../io/files.js';
import { checkpointExists, stageFingerprint } from './checkpoint.js';
import type { StageControl } from './stages/train.js';

/** A stage of the run: 'pretrain', 'train', 'prune', 'finetune' (pass 1), or '<kind>-pass<k>' for a later pass. */
export type RunStage = string;

/** A stage whose model is written: where, and what the run reported about it. */
export interface CompletedStage {
  model: string;
  accuracy: number;
  seconds: number;
  /** The accuracy was at chance level (src/train/chance.ts). */
  atChance?: boolean;
  /** The prune stage's summary (run.json's `prune`). */
  prune?: unknown;
}

interface RunStateFile {
  format: 'slim-run-state-1';
  fingerprint: string;
  stages: Partial<Record<RunStage, CompletedStage>>;
}

export class RunProgress {
  private constructor(
    private readonly dir: string,
    private readonly resume: boolean,
    private readonly signal: AbortSignal | undefined,
    private readonly state: RunStateFile,
  ) {}

  /**
   * The progress of the run writing to `outDir` whose input is `model`. With `resume`, the saved
   * state must exist and carry this run's fingerprint (InputError, one line, otherwise).
   */
  static async open(
    outDir: string,
    config: Config,
    model: tf.LayersModel,
    control: { resume?: boolean; signal?: AbortSignal },
  ): Promise<RunProgress> {
    const dir = path.join(path.resolve(outDir), 'checkpoints');
    const fingerprint = await stageFingerprint('run', config, model);
    const fresh: RunStateFile = { format: 'slim-run-state-1', fingerprint, stages: {} };
    if (control.resume !== true) {
      // Written at once, so a run interrupted in its first stage can be resumed too.
      await writeRunState(dir, fresh);
      return new RunProgress(dir, false, control.signal, fresh);
    }
    const saved = await readRunState(dir);
    if (saved.fingerprint !== fingerprint) {
      throw new InputError(
        `--resume: ${dir}: state of a run with a different config, input model or slim version (remove it or run without --resume)`,
      );
    }
    return new RunProgress(dir, true, control.signal, saved);
  }

  /** The stage's record when it completed earlier (with --resume) and its model folder is still there. */
  async completed(stage: RunStage): Promise<CompletedStage | undefined> {
    const done = this.resume ? this.state.stages[stage] : undefined;
    return done !== undefined && (await exists(done.model)) ? done : undefined;
  }

  async record(stage: RunStage, done: CompletedStage): Promise<CompletedStage> {
    this.state.stages[stage] = done;
    await writeRunState(this.dir, this.state);
    return done;
  }

  /** Checkpointing of a training stage: resumed when --resume was given and the stage left a checkpoint. */
  async control(stage: RunStage): Promise<StageControl> {
    const checkpointDir = path.join(this.dir, stage);
    return { checkpointDir, resume: this.resume && (await checkpointExists(checkpointDir)), signal: this.signal };
  }

  /** The run is complete: its checkpoints are no longer needed. */
  async finish(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

async function writeRunState(dir: string, state: RunStateFile): Promise<void> {
  await writeFileAtomic(path.join(dir, 'run-state.json'), `${JSON.stringify(state, null, 2)}\n`);
}

async function readRunState(dir: string): Promise<RunStateFile> {
  const file = path.join(dir, 'run-state.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new InputError(`--resume: no checkpoint at ${file} (run without --resume to start over)`);
  }
  try {
    const state = JSON.parse(text) as RunStateFile;
    if (state.format !== 'slim-run-state-1' || typeof state.stages !== 'object') throw new Error('not a slim run state');
    return state;
  } catch (error) {
    throw new InputError(`--resume: ${file}: unreadable (${(error as Error).message})`, { cause: error });
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}
