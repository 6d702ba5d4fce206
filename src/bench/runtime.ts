/**
 * What every place a model can be timed offers: a runtime opens a session on the models under
 * comparison, and a session times them, interleaved (src/bench/pairing.ts), at one batch size.
 */

export const RUNTIMES = ['node:wasm', 'node:cpu', 'node:tensorflow', 'chromium:wasm', 'chromium:webgl', 'chromium:webgpu'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

export function isRuntimeName(name: string): name is RuntimeName {
  return (RUNTIMES as readonly string[]).includes(name);
}

/** What one timing asks for; the input is a seeded uniform batch of the models' input shapes. */
export interface TimingRequest {
  batch: number;
  runs: number;
  warmup: number;
  seed: number;
  /** Per model input, its shape without the batch dimension. */
  inputShapes: number[][];
}

export interface SessionTiming {
  /** Per model: the first predict (compile / shader warm-up included), ms. */
  firstMs: number[];
  /** Per model: the timed runs, ms, paired run by run. */
  timesMs: number[][];
  /** Per model: peak tensor bytes of one predict, null where the runtime does not report it. */
  peakBytes: (number | null)[];
  /**
   * Per model, the CPU time of each timed run, ms, paired as timesMs: on node:* this process's
   * (user + system), on chromium:* the page's main thread's, the one thread that runs tfjs there
   * (wasm, WebGL and WebGPU calls). Absent where no CPU clock can be read (a served page). On a
   * host busier than its cores the wall clock also counts the time other jobs held the core, most
   * for the longer predicts; CPU time mostly does not.
   */
  cpuMs?: number[][];
}

export interface RuntimeSession {
  runtime: RuntimeName;
  /** The engine and device in words, e.g. "Chromium 120.0 — WebGL: ANGLE (Google, SwiftShader …)". */
  device: string;
  /** True when the "GPU" is a software renderer: absolute times say nothing about a real GPU. */
  software: boolean;
  time(request: TimingRequest, onRun?: (done: number) => void): Promise<SessionTiming>;
  close(): Promise<void>;
}

/** A runtime that cannot run here: why, and what would make it available. */
export class RuntimeUnavailable extends Error {
  constructor(
    readonly runtime: RuntimeName,
    readonly reason: string,
    readonly fix: string,
  ) {
    super(`${runtime}: ${reason}`);
  }
}

/** The words shown beside every row measured on a software renderer. */
export const SOFTWARE_RENDERING_NOTE = 'software rendering — not your GPU; compare rows, not absolute times';
