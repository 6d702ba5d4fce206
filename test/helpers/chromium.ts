/**
 * Opens a page in headless Chromium and reports what a person would see: console errors,
 * requests that left the machine's files, the size of every chart, and a screenshot.
 * Talks the DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out, messages ended by
 * NUL), so no WebSocket client or browser-automation package is needed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser checks cannot run here, or null when they can. */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed (Debian package 'chromium'; .ci/run installs it)`;
}

export interface PageCheck {
  /** Console errors, uncaught exceptions and browser log errors while loading. */
  errors: string[];
  /** URLs requested that are neither the page's own file:// nor data: */
  externalRequests: string[];
  /** Every `figure.chart svg`, with its id and rendered size in CSS pixels. */
  charts: { id: string; width: number; height: number }[];
  png: Buffer;
}

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

class DevTools {
  private nextId = 1;
  private pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private listeners: ((m: Message) => void)[] = [];
  private buffer = '';

  constructor(
    private readonly input: Writable,
    output: Readable,
  ) {
    output.setEncoding('utf8');
    output.on('data', (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf('\0')) >= 0) {
        const message = JSON.parse(this.buffer.slice(0, end)) as Message;
        this.buffer = this.buffer.slice(end + 1);
        this.dispatch(message);
      }
    });
  }

  private dispatch(message: Message): void {
    if (message.id !== undefined) {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(message.error.message));
      else waiter?.resolve(message.result ?? {});
      return;
    }
    for (const listen of this.listeners) listen(message);
  }

  on(listen: (m: Message) => void): void {
    this.listeners.push(listen);
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.input.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  }

  /** Resolves on the first event of that method (in that session). */
  once(method: string, sessionId: string): Promise<Message> {
    return new Promise((resolve) => this.on((m) => m.method === method && m.sessionId === sessionId && resolve(m)));
  }
}

function launch(profile: string): ChildProcess {
  return spawn(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-extensions',
      `--user-data-dir=${profile}`,
      '--remote-debugging-pipe',
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
  );
}

/** Loads `file` at the given viewport width and checks it (the screenshot is the whole page). */
export async function checkPage(file: string, viewportWidth = 1280): Promise<PageCheck> {
  const profile = await mkdtemp(path.join(tmpdir(), 'slim-chromium-'));
  const browser = launch(profile);
  let stderr = '';
  browser.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<never>((_, reject) =>
    browser.on('exit', (code) => reject(new Error(`chromium exited (${code}) before the check finished: ${stderr.slice(-2000)}`))),
  );
  const gone = new Promise<void>((resolve) => browser.once('exit', () => resolve()));
  exited.catch(() => undefined); // only raced below; after a normal close nobody waits on it
  const devtools = new DevTools(browser.stdio[3] as Writable, browser.stdio[4] as Readable);
  try {
    return await Promise.race([exited, inspect(devtools, pathToFileURL(file).href, viewportWidth)]);
  } finally {
    if (browser.exitCode === null && browser.signalCode === null) browser.kill('SIGKILL');
    await gone;
    // Helper processes may still be flushing the profile for a moment after the browser exits.
    await rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}

async function inspect(devtools: DevTools, url: string, viewportWidth: number): Promise<PageCheck> {
  const { targetId } = (await devtools.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
  const { sessionId } = (await devtools.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
  const errors: string[] = [];
  const externalRequests: string[] = [];
  devtools.on((m) => {
    if (m.sessionId !== sessionId || !m.params) return;
    const p = m.params as Record<string, any>;
    if (m.method === 'Runtime.consoleAPICalled' && p.type === 'error') errors.push(`console: ${JSON.stringify(p.args)}`);
    if (m.method === 'Runtime.exceptionThrown') errors.push(`exception: ${p.exceptionDetails?.text}`);
    if (m.method === 'Log.entryAdded' && p.entry?.level === 'error') errors.push(`log: ${p.entry.text} ${p.entry.url ?? ''}`);
    if (m.method === 'Network.requestWillBeSent' && !/^(file|data|about):/.test(p.request?.url)) externalRequests.push(p.request.url);
  });
  for (const domain of ['Runtime', 'Log', 'Network', 'Page']) await devtools.send(`${domain}.enable`, {}, sessionId);
  await devtools.send(
    'Emulation.setDeviceMetricsOverride',
    { width: viewportWidth, height: 900, deviceScaleFactor: 1, mobile: false },
    sessionId,
  );
  const loaded = devtools.once('Page.loadEventFired', sessionId);
  await devtools.send('Page.navigate', { url }, sessionId);
  await loaded;
  const measured = (await devtools.send(
    'Runtime.evaluate',
    {
      expression: `JSON.stringify([...document.querySelectorAll('figure.chart svg')].map((svg) => {
        const r = svg.getBoundingClientRect();
        return { id: svg.closest('figure').id, width: r.width, height: r.height };
      }))`,
      returnByValue: true,
    },
    sessionId,
  )) as { result: { value: string } };
  const metrics = (await devtools.send('Page.getLayoutMetrics', {}, sessionId)) as { cssContentSize: { width: number; height: number } };
  const { width, height } = metrics.cssContentSize;
  const shot = (await devtools.send(
    'Page.captureScreenshot',
    { format: 'png', captureBeyondViewport: true, clip: { x: 0, y: 0, width: Math.ceil(width), height: Math.ceil(height), scale: 1 } },
    sessionId,
  )) as { data: string };
  await devtools.send('Browser.close').catch(() => undefined);
  return { errors, externalRequests, charts: JSON.parse(measured.result.value), png: Buffer.from(shot.data, 'base64') };
}
