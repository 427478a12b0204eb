// Reading request bodies and writing JSON answers, as the fake API server's handlers need them.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ApiStatusError, badRequest } from './status-error.js';
import { isRecord, type KubeObject } from './types.js';

export function send(res: ServerResponse, code: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Answers with the Status of an ApiStatusError, or a 500 InternalError for anything else. */
export function failWith(res: ServerResponse, err: unknown): void {
  const e =
    err instanceof ApiStatusError
      ? err
      : new ApiStatusError(500, 'InternalError', `Internal error occurred: ${err instanceof Error ? err.message : String(err)}`);
  send(res, e.code, e.toStatus());
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const ct = req.headers['content-type'] ?? '';
  if (ct.includes('protobuf')) {
    // Drain, then refuse: kubectl create sends protobuf for built-in kinds.
    for await (const _chunk of req) {
      // discard
    }
    throw new ApiStatusError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (the fake API server does not speak protobuf: got ${ct})`,
    );
  }
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

export function parseObject(text: string, yaml: boolean): unknown {
  try {
    return yaml ? (parseYaml(text) as unknown) : (JSON.parse(text) as unknown);
  } catch (err) {
    throw badRequest(`the body of the request could not be decoded: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export async function bodyObject(req: IncomingMessage): Promise<KubeObject> {
  const ct = req.headers['content-type'] ?? '';
  const v = parseObject(await readBody(req), /yaml/.test(ct));
  if (!isRecord(v)) throw badRequest('the body of the request must be an object');
  return v;
}

/** True when every media range in Accept asks for aggregated discovery (nothing plain is acceptable). */
export function onlyAggregatedDiscovery(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const ranges = accept.split(',').map((r) => r.trim());
  return ranges.every((r) => /as=APIGroupDiscoveryList/.test(r));
}
