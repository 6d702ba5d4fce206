/**
 * The loopback HTTP server that hands a browser the bench page, tfjs, its wasm binaries and the
 * models, all from this machine: node_modules and memory, nothing fetched from outside.
 * Every path starts with a random token: requests without it are refused (403); only the files
 * named in the route table are served (404 otherwise, no listings). The page POSTs its rows to
 * `<token>/report`.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.js';
import { encodeWeightMap } from '../model/convert.js';
import type { ModelArtifacts } from '../model/topology.js';
import { benchPageHtml, benchPageScript } from './page.js';

export interface Route {
  type: string;
  body: () => Promise<Buffer | string>;
}

const requireHere = createRequire(import.meta.url);

/** A package's dist folder, resolved as Node resolves slim's imports (works when slim is a dependency too). */
function distDir(pkg: string): string {
  return path.dirname(requireHere.resolve(pkg));
}

const fromFile = (file: string) => () => readFile(file);

/** tfjs and its backends, as a browser loads them. */
function libraryRoutes(): Record<string, Route> {
  const tfjs = distDir('@tensorflow/tfjs');
  const wasm = distDir('@tensorflow/tfjs-backend-wasm');
  const js = 'text/javascript; charset=utf-8';
  const routes: Record<string, Route> = {
    'tf.min.js': { type: js, body: fromFile(path.join(tfjs, 'tf.min.js')) },
    'tf-backend-wasm.min.js': { type: js, body: fromFile(path.join(wasm, 'tf-backend-wasm.min.js')) },
    'pairing.js': { type: js, body: fromFile(path.join(path.dirname(fileURLToPath(import.meta.url)), 'pairing.js')) },
  };
  for (const file of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
    routes[file] = { type: 'application/wasm', body: fromFile(path.join(wasm, file)) };
  }
  try {
    const webgpu = distDir('@tensorflow/tfjs-backend-webgpu');
    routes['tf-backend-webgpu.min.js'] = { type: js, body: fromFile(path.join(webgpu, 'tf-backend-webgpu.min.js')) };
  } catch {
    // Optional: without it chromium:webgpu says how to install it.
  }
  return routes;
}

/**
 * A model as the files a browser downloads: model.json's content (layers or graph format, its
 * weights manifest as written, quantized or not) and each weight file under the path the
 * manifest names. `slim export`'s folders are served this way, byte for byte.
 */
export interface ModelFiles {
  modelJson: { format?: string; weightsManifest?: { paths: string[]; weights: unknown[] }[] } & Record<string, unknown>;
  weightFiles: Record<string, Uint8Array>;
}

/** What the bench server can serve: artifacts (a layers model built in memory) or the files of a written model. */
export type ServedModel = ModelArtifacts | ModelFiles;

export function isModelFiles(model: ServedModel): model is ModelFiles {
  return 'modelJson' in model;
}

/** How the page loads model i: tf.loadGraphModel for a graph model, tf.loadLayersModel otherwise. */
export function servedFormat(model: ServedModel): 'graph-model' | 'layers-model' {
  return isModelFiles(model) && model.modelJson.format === 'graph-model' ? 'graph-model' : 'layers-model';
}

/** A written model folder (model.json and the weight files its manifest names) as ModelFiles. */
export async function readModelFiles(dir: string): Promise<ModelFiles> {
  const modelJson = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as ModelFiles['modelJson'];
  const weightFiles: Record<string, Uint8Array> = {};
  for (const group of modelJson.weightsManifest ?? []) {
    for (const file of group.paths) weightFiles[file] = await readFile(path.join(dir, file));
  }
  return { modelJson, weightFiles };
}

/** models/<i>/model.json and its weight files, for each model. */
export function modelRoutes(models: readonly ServedModel[]): Record<string, Route> {
  const routes: Record<string, Route> = {};
  models.forEach((model, i) => {
    if (isModelFiles(model)) {
      const json = JSON.stringify(model.modelJson);
      routes[`models/${i}/model.json`] = { type: 'application/json', body: () => Promise.resolve(json) };
      for (const [file, data] of Object.entries(model.weightFiles)) {
        routes[`models/${i}/${file}`] = { type: 'application/octet-stream', body: () => Promise.resolve(Buffer.from(data)) };
      }
      return;
    }
    const { specs, data } = encodeWeightMap(model.weights);
    const json = JSON.stringify({
      format: 'layers-model',
      generatedBy: model.generatedBy,
      modelTopology: model.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
    });
    routes[`models/${i}/model.json`] = { type: 'application/json', body: () => Promise.resolve(json) };
    routes[`models/${i}/weights.bin`] = { type: 'application/octet-stream', body: () => Promise.resolve(Buffer.from(data)) };
  });
  return routes;
}

export interface BenchServerOptions {
  models: readonly ServedModel[];
  /** What the page reads first (`plan.json`): what to measure, and whether to run by itself. */
  plan: unknown;
  host?: string;
  /** 0 (default): a free port picked by the system. */
  port?: number;
  /** Each JSON document the page POSTs to `report`. */
  onReport?: (message: unknown) => void;
  /** More files by name (replacing the bench page's own when a name is the same), e.g. another page at ''. */
  routes?: Record<string, Route>;
}

export class BenchServer {
  readonly token = randomBytes(16).toString('hex');
  private readonly routes: Record<string, Route>;
  private readonly server: Server;
  private address: { host: string; port: number } | undefined;

  constructor(private readonly options: BenchServerOptions) {
    this.routes = {
      ...libraryRoutes(),
      ...modelRoutes(options.models),
      '': {
        type: 'text/html; charset=utf-8',
        body: () => Promise.resolve(benchPageHtml(Boolean(this.routes['tf-backend-webgpu.min.js']))),
      },
      'bench.js': { type: 'text/javascript; charset=utf-8', body: () => Promise.resolve(benchPageScript()) },
      'plan.json': { type: 'application/json', body: () => Promise.resolve(JSON.stringify(options.plan)) },
      ...options.routes,
    };
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  /** Listens; a port in use is bad input (the user chose it). */
  async start(): Promise<void> {
    const host = this.options.host ?? '127.0.0.1';
    const port = this.options.port ?? 0;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        if (error.code === 'EADDRINUSE')
          reject(new InputError(`--port ${port}: already in use on ${host}; choose another port or leave --port out`));
        else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND')
          reject(new InputError(`--host ${host}: not an address of this machine (${error.code})`));
        else reject(error);
      };
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    const bound = this.server.address();
    if (bound === null || typeof bound === 'string') throw new Error('bench server: no TCP address');
    this.address = { host, port: bound.port };
  }

  /** The page's URL, token included; `host` overrides the bound address (e.g. the LAN address for 0.0.0.0). */
  url(host?: string): string {
    if (this.address === undefined) throw new Error('bench server: not started');
    const shown = host ?? this.address.host;
    const bracketed = shown.includes(':') ? `[${shown}]` : shown;
    return `http://${bracketed}:${this.address.port}/${this.token}/`;
  }

  get port(): number | undefined {
    return this.address?.port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private tokenMatches(given: string): boolean {
    const a = Buffer.from(given);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    const [, token = '', ...rest] = pathname.split('/');
    const name = rest.join('/');
    // Cross-origin isolation lets the page use SharedArrayBuffer: the threaded wasm build, as deployed pages can.
    const headers = {
      'Cache-Control': 'no-store',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'X-Content-Type-Options': 'nosniff',
    };
    if (!this.tokenMatches(token)) {
      res.writeHead(403, { ...headers, 'Content-Type': 'text/plain' }).end('forbidden: the URL needs the token slim printed\n');
      return;
    }
    if (req.method === 'POST' && name === 'report') {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > 1 << 20) {
          res.writeHead(413, headers).end();
          return;
        }
        chunks.push(chunk);
      }
      try {
        this.options.onReport?.(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(204, headers).end();
      } catch {
        res.writeHead(400, headers).end();
      }
      return;
    }
    const route = Object.hasOwn(this.routes, name) ? this.routes[name] : undefined;
    if (route === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    try {
      const body = await route.body();
      res.writeHead(200, { ...headers, 'Content-Type': route.type });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(500, headers).end();
    }
  }
}
