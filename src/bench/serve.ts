/**
 * `slim bench --serve`: the bench page for whatever browser opens its URL (a phone on the same
 * network), its rows streamed back as they are measured. Resolves when the page says it is done;
 * the server is closed on every path, and a page that never finishes is an error after the timeout.
 */
import { ProblemError } from '../errors.js';
import type { ModelArtifacts } from '../model/topology.js';
import type { SessionTiming, TimingRequest } from './runtime.js';
import { BenchServer } from './server.js';

export const SERVED_BACKENDS = ['wasm', 'webgl', 'webgpu'] as const;

export interface ServedRow {
  backend: string;
  batch: number;
  device: string;
  software: boolean;
  timing: SessionTiming;
}

export interface ServeOptions {
  host: string;
  port: number;
  timeoutMs: number;
  requests: Omit<TimingRequest, never>[];
  /** The URL to show, once listening. */
  onListening(url: string): void;
  onRow(row: ServedRow): void;
  onUnavailable(backend: string, reason: string): void;
  onBrowser(userAgent: string): void;
}

type PageMessage =
  | { type: 'hello'; userAgent: string }
  | ({ type: 'row' } & ServedRow)
  | { type: 'unavailable'; backend: string; reason: string }
  | { type: 'error'; message: string }
  | { type: 'done' };

export async function serveBench(models: readonly ModelArtifacts[], options: ServeOptions): Promise<void> {
  let settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
  const finished = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  const server = new BenchServer({
    models,
    host: options.host,
    port: options.port,
    plan: { mode: 'serve', modelCount: models.length, backends: SERVED_BACKENDS, requests: options.requests },
    onReport: (raw) => {
      const message = raw as PageMessage;
      if (message.type === 'hello') options.onBrowser(String(message.userAgent));
      else if (message.type === 'row') options.onRow(message);
      else if (message.type === 'unavailable') options.onUnavailable(message.backend, message.reason);
      else if (message.type === 'error') settle!.reject(new ProblemError(`the browser reported an error: ${message.message}`));
      else if (message.type === 'done') settle!.resolve();
    },
  });
  await server.start();
  let timer: NodeJS.Timeout | undefined;
  try {
    options.onListening(server.url());
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new ProblemError(`no browser finished the bench page within ${Math.round(options.timeoutMs / 1000)} s (raise --timeout)`)),
        options.timeoutMs,
      );
    });
    await Promise.race([finished, timeout]);
  } finally {
    clearTimeout(timer);
    await server.close();
  }
}
