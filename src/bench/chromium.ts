/**
 * The chromium:<backend> runtimes: an installed Chromium or Chrome (never a downloaded one), driven
 * over the DevTools protocol by puppeteer-core, loads the bench page from a loopback server
 * (src/bench/server.ts) and times the models there. The browser and the server are closed on
 * every path; puppeteer also kills the browser if slim is interrupted (SIGINT / SIGTERM / exit).
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { InputError, ProblemError } from '../errors.js';
import { CPU_CLOCK_BINDING } from './page.js';
import { BenchServer, servedFormat, type ServedModel } from './server.js';
import { RuntimeUnavailable, type RuntimeName, type RuntimeSession, type SessionTiming, type TimingRequest } from './runtime.js';

export type BrowserBackend = 'wasm' | 'webgl' | 'webgpu';

const BROWSER_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'chrome'];

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The browser to drive: `--browser` (which must exist) or the first Chromium/Chrome on PATH. */
export function findBrowser(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (explicit !== undefined) {
    if (!isExecutable(explicit)) throw new InputError(`--browser ${explicit}: no such executable`);
    return explicit;
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const name of BROWSER_NAMES) {
      const file = path.join(dir, name);
      if (isExecutable(file)) return file;
    }
  }
  return undefined;
}

export const NO_BROWSER_FIX = 'install Chromium (Debian: apt-get install chromium) or give --browser PATH';

export interface ChromiumOptions {
  browser: string | undefined;
  /** How long one step (start, load, one timing) may take before the browser counts as hung. */
  timeoutMs: number;
  /**
   * Read the page thread's CPU time around each timed predict (exposeCpuClock). Off unless asked:
   * each reading is a DevTools round trip that leaves the page thread idle for a moment, and a
   * short predict right after such a pause runs measurably slower (the quickstart slim model at
   * batch 1: 0.45 → 0.63 ms median wall), which would pull every sub-millisecond row's ratios
   * towards 1. On a loaded host the CPU column is worth that (wall-clock ratios swing more).
   */
  pageCpuTime?: boolean;
}

/** Rejects after `ms` with a ProblemError naming what did not finish; the timer never keeps Node alive. */
function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProblemError(`${what}: no answer within ${Math.round(ms / 1000)} s (raise --timeout)`)), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Flags for a headless run on a machine that may have no GPU: WebGL / WebGPU fall back to SwiftShader, said so in the row. */
export function browserArgs(backend: BrowserBackend): string[] {
  const args = [
    '--no-sandbox',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-extensions',
    '--enable-unsafe-swiftshader',
  ];
  if (backend === 'webgpu') args.push('--enable-unsafe-webgpu', '--enable-features=Vulkan');
  return args;
}

/** A tensor crossing the DevTools protocol: its shape and values as plain numbers. */
export interface PlainTensor {
  shape: number[];
  values: number[];
}

export interface ChromiumSession extends RuntimeSession {
  /** Per model, its outputs on `inputs`, predicted in the page. */
  outputs(inputs: PlainTensor[]): Promise<PlainTensor[][]>;
}

export async function openChromiumRuntime(
  backend: BrowserBackend,
  models: readonly ServedModel[],
  options: ChromiumOptions,
): Promise<ChromiumSession> {
  const runtime: RuntimeName = `chromium:${backend}`;
  const executable = findBrowser(options.browser);
  if (executable === undefined) throw new RuntimeUnavailable(runtime, 'no Chromium or Chrome found on PATH', NO_BROWSER_FIX);
  const server = new BenchServer({ models, plan: { mode: 'driven' } });
  let browser: Browser | undefined;
  // Ends a browser whose launch never finished (it started but never spoke the protocol): without
  // it the pending launch would keep slim alive for puppeteer's protocol timeout after the error.
  const launching = new AbortController();
  const closeAll = async () => {
    if (browser === undefined) launching.abort();
    await browser?.close().catch(() => browser?.process()?.kill('SIGKILL'));
    await server.close();
  };
  try {
    await server.start();
    // Imported here, not at start-up: puppeteer-core takes about a fifth of a second of CPU to load.
    const puppeteer = (await import('puppeteer-core')).default;
    browser = await withTimeout(
      puppeteer.launch({
        executablePath: executable,
        headless: true,
        args: browserArgs(backend),
        pipe: true,
        signal: launching.signal,
        // slim's own timeout (withTimeout) must fire first, with its one-line error and the fix.
        protocolTimeout: options.timeoutMs + 30_000,
      }),
      options.timeoutMs,
      `${executable}: starting the browser`,
    ).catch((error: unknown) => {
      if (error instanceof ProblemError) throw error;
      throw new ProblemError(`${executable}: the browser did not start (${firstLine(error)})`, { cause: error });
    });
    const version = await browser.version();
    const crashed = new Promise<never>((_, reject) =>
      browser!.once('disconnected', () =>
        reject(new ProblemError(`${runtime}: the browser (${version}) exited or crashed while measuring`)),
      ),
    );
    crashed.catch(() => undefined);
    const page = await browser.newPage();
    const guard = <T>(work: Promise<T>, what: string) =>
      Promise.race([withTimeout(work, options.timeoutMs, `${runtime}: ${what}`), crashed]);
    if (options.pageCpuTime === true) await guard(exposeCpuClock(page), 'opening the page thread’s CPU clock');
    await guard(
      page.goto(server.url(), { waitUntil: 'load' }).then(() => page.waitForFunction('window.slimBenchReady === true', { timeout: 0 })),
      'loading the bench page',
    );
    const started = (await guard(
      page.evaluate((name: string) => (window as unknown as BenchWindow).slimBench.setBackend(name), backend),
      `starting tfjs's ${backend} backend`,
    )) as { unavailable?: string; device?: string; software?: boolean };
    if (started.unavailable !== undefined) {
      throw new RuntimeUnavailable(runtime, `${version}: ${started.unavailable}`, backendFix(backend, started.unavailable));
    }
    await guard(
      page.evaluate(
        (count: number, formats: string[]) => (window as unknown as BenchWindow).slimBench.loadModels(count, formats),
        models.length,
        models.map(servedFormat),
      ),
      'loading the models',
    );
    return {
      runtime,
      device: `${version} — ${started.device}`,
      software: started.software === true,
      async time(request: TimingRequest): Promise<SessionTiming> {
        return guard(
          page.evaluate((r: TimingRequest) => (window as unknown as BenchWindow).slimBench.time(r), request),
          `timing batch ${request.batch}`,
        );
      },
      async outputs(inputs: PlainTensor[]): Promise<PlainTensor[][]> {
        return guard(
          page.evaluate((x: PlainTensor[]) => (window as unknown as BenchWindow).slimBench.outputs(x), inputs),
          'predicting',
        );
      },
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/**
 * The page's main-thread CPU time in ms from the DevTools Performance domain's metrics, whose
 * ThreadTime (seconds) is that thread's CPU clock (the thread's own clock, nanosecond resolution
 * on Linux); undefined when the browser reports none. Its ProcessTime counts every thread of the
 * renderer but, on Linux, in 10 ms steps: too coarse for one predict.
 */
export function threadTimeMs(metrics: readonly { name: string; value: number }[]): number | undefined {
  const value = metrics.find((m) => m.name === 'ThreadTime')?.value;
  return typeof value === 'number' && Number.isFinite(value) ? value * 1000 : undefined;
}

/**
 * Gives the page its main thread's CPU time, ms, as window.slimMainThreadCpuMs() (the thread that
 * runs tfjs, wasm included); false, and no such function, when this browser reports none. The
 * protocol command is answered by that same thread, so a reading is taken only while the page
 * awaits it: between predicts, never during one.
 */
export async function exposeCpuClock(page: Page): Promise<boolean> {
  const devtools = await page.createCDPSession();
  await devtools.send('Performance.enable');
  const read = async () => threadTimeMs((await devtools.send('Performance.getMetrics')).metrics);
  if ((await read()) === undefined) return false;
  await page.exposeFunction(CPU_CLOCK_BINDING, async () => {
    const ms = await read();
    if (ms === undefined)
      throw new ProblemError('the browser stopped reporting the page thread’s CPU time (Performance.getMetrics ThreadTime)');
    return ms;
  });
  return true;
}

interface BenchWindow {
  slimBench: {
    setBackend(name: string): Promise<unknown>;
    loadModels(count: number, formats: string[]): Promise<void>;
    time(request: TimingRequest): Promise<SessionTiming>;
    outputs(inputs: PlainTensor[]): Promise<PlainTensor[][]>;
  };
}

function backendFix(backend: BrowserBackend, reason: string): string {
  if (backend === 'webgpu') {
    return /not installed/.test(reason)
      ? 'npm i @tensorflow/tfjs-backend-webgpu'
      : 'a browser and GPU driver with WebGPU (Chrome 113+ with a supported GPU; on Linux: --enable-unsafe-webgpu and Vulkan)';
  }
  if (backend === 'webgl') return 'a browser with WebGL (a GPU driver, or SwiftShader)';
  return 'a browser with WebAssembly';
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split('\n').find((l) => l.trim() !== '') ?? text).trim().slice(0, 240);
}
