// A boxtrace web-hook receiver in TypeScript: verifies each delivery's Standard Webhooks
// signature with the `standardwebhooks` package, parses the result event into typed
// values, and prints one JSON line per verified event on stdout.
//
//   npm ci && npm run build
//   WEBHOOK_SECRET=whsec_... npm start
//
// It listens on 127.0.0.1:9000 (RECEIVER_LISTEN=host:port; port 0 picks a free one) and
// takes POSTs to /hooks. It answers 204 to a verified event, 401 to a bad signature (or a
// timestamp more than five minutes off), and 400 to a body that is not a result event.
// Copy it into your TMS and replace `handle` with your own processing.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Webhook, WebhookVerificationError } from "standardwebhooks";

/** Larger bodies are refused: a result event is a few kilobytes. */
const MAX_BODY = 1024 * 1024;

export type Action = "TRACE_RESULT" | "TRACE_ERROR";
export type TraceKind = "EXPORT" | "EMPTY";
export type TrackingState = "ACTIVE" | "COMPLETED" | "EXPIRED" | "CANCELLED" | "FAILED";

/** What failed, in a TRACE_ERROR. */
export interface TraceErrorInfo {
  reason: string;
  message: string;
}

/** The fields most integrations read; `raw` keeps the whole payload for the rest
 * (carrier, destination, events, the normalized result). */
export interface Payload {
  containerNumber: string;
  providerId: string;
  traceKind: TraceKind;
  trackingState: TrackingState;
  reason: string;
  tracedAt: string;
  nextTraceAt: string | null;
  status: string | null;
  bookingNumber: string | null;
  raw: Record<string, unknown>;
}

interface Envelope {
  id: string;
  orgId: string;
  svcId: string;
  createdAt: string;
}

/** A result event: the action tells which payload it carries. */
export type ResultEvent =
  | (Envelope & { action: "TRACE_RESULT"; payload: Payload })
  | (Envelope & { action: "TRACE_ERROR"; payload: Payload & { error: TraceErrorInfo | null } });

/** The body verified but is not a result event this receiver understands. */
export class NotAResultEvent extends Error {}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(obj: Json, key: string, path: string): string {
  const value = obj[key];
  if (typeof value !== "string") throw new NotAResultEvent(`${path}${key} must be a string`);
  return value;
}

function optionalText(obj: Json, key: string, path: string): string | null {
  const value = obj[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw new NotAResultEvent(`${path}${key} must be a string or absent`);
  return value;
}

function oneOf<T extends string>(accepted: readonly T[], obj: Json, key: string, path: string): T {
  const value = text(obj, key, path);
  const found = accepted.find((a) => a === value);
  if (found === undefined) {
    throw new NotAResultEvent(`${path}${key} is '${value}'; accepted: ${accepted.join(", ")}`);
  }
  return found;
}

/** A result event from the parsed JSON body, or NotAResultEvent naming the field at fault.
 * Unknown fields are ignored: boxtrace may add fields, never change these. */
export function parseEvent(document: unknown): ResultEvent {
  if (!isObject(document)) throw new NotAResultEvent("the body must be a JSON object");
  if (document["type"] !== "CONTAINER") throw new NotAResultEvent("type must be CONTAINER");
  const raw = document["payload"];
  if (!isObject(raw)) throw new NotAResultEvent("payload must be an object");
  const envelope: Envelope = {
    id: text(document, "id", ""),
    orgId: text(document, "orgId", ""),
    svcId: text(document, "svcId", ""),
    createdAt: text(document, "createdAt", ""),
  };
  const payload: Payload = {
    containerNumber: text(raw, "containerNumber", "payload."),
    providerId: text(raw, "providerId", "payload."),
    traceKind: oneOf(["EXPORT", "EMPTY"] as const, raw, "traceKind", "payload."),
    trackingState: oneOf(
      ["ACTIVE", "COMPLETED", "EXPIRED", "CANCELLED", "FAILED"] as const,
      raw,
      "trackingState",
      "payload.",
    ),
    reason: text(raw, "reason", "payload."),
    tracedAt: text(raw, "tracedAt", "payload."),
    nextTraceAt: optionalText(raw, "nextTraceAt", "payload."),
    status: optionalText(raw, "status", "payload."),
    bookingNumber: optionalText(raw, "bookingNumber", "payload."),
    raw,
  };
  const action = oneOf(["TRACE_RESULT", "TRACE_ERROR"] as const, document, "action", "");
  if (action === "TRACE_RESULT") return { ...envelope, action, payload };
  const info = raw["error"];
  const error = isObject(info)
    ? { reason: text(info, "reason", "payload.error."), message: text(info, "message", "payload.error.") }
    : null;
  return { ...envelope, action, payload: { ...payload, error } };
}

/** Your processing goes here. This one prints the event as one JSON line. Deliveries are
 * at least once: use `webhookId` (the same on every retry) to drop duplicates. */
function handle(webhookId: string, event: ResultEvent): void {
  const line = {
    receiver: "typescript",
    webhookId,
    id: event.id,
    action: event.action,
    containerNumber: event.payload.containerNumber,
    traceKind: event.payload.traceKind,
    trackingState: event.payload.trackingState,
    reason: event.payload.reason,
    status: event.payload.status,
    error: event.action === "TRACE_ERROR" ? event.payload.error : null,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function answer(res: ServerResponse, status: number, why: string): void {
  process.stderr.write(`refused (${status}): ${why}\n`);
  res.writeHead(status, { "content-type": "text/plain" }).end(why);
}

/** The body's exact bytes (the signature covers them), up to MAX_BODY. */
async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY) return null;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

function headerValues(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === "string") headers[name] = value;
  }
  return headers;
}

/** Answers one request: 204 to a verified result event, 401, 400, 404 or 413 otherwise. */
async function receive(webhook: Webhook, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "POST" || req.url !== "/hooks") return answer(res, 404, "not found");
  const body = await readBody(req);
  if (body === null) return answer(res, 413, "body too large");
  let document: unknown;
  try {
    document = webhook.verify(body, headerValues(req));
  } catch (e) {
    if (e instanceof WebhookVerificationError) return answer(res, 401, `bad signature: ${e.message}`);
    return answer(res, 400, `not JSON: ${String(e)}`);
  }
  let event: ResultEvent;
  try {
    event = parseEvent(document);
  } catch (e) {
    if (e instanceof NotAResultEvent) return answer(res, 400, `not a result event: ${e.message}`);
    throw e;
  }
  handle(String(req.headers["webhook-id"]), event);
  res.writeHead(204).end();
}

function main(): void {
  const secret = process.env["WEBHOOK_SECRET"];
  if (!secret) {
    process.stderr.write("set WEBHOOK_SECRET to the web-hook's secret (whsec_...), shown when it was registered\n");
    process.exit(2);
  }
  const webhook = new Webhook(secret);
  const listen = process.env["RECEIVER_LISTEN"] ?? "127.0.0.1:9000";
  const colon = listen.lastIndexOf(":");
  const host = colon > 0 ? listen.slice(0, colon) : "127.0.0.1";
  const port = Number(listen.slice(colon + 1));

  const server = createServer((req, res) => {
    receive(webhook, req, res).catch((e: unknown) => {
      // A sender that went away mid-body (the stream fails with "aborted"), or a bug in
      // the processing: this request fails, the receiver keeps serving the others. An
      // unanswered delivery is retried by boxtrace.
      process.stderr.write(`request failed: ${String(e)}\n`);
      if (res.headersSent) res.destroy();
      else res.writeHead(500, { "content-type": "text/plain" }).end("internal error");
    });
  });
  server.listen(port, host, () => {
    const address = server.address();
    const bound = typeof address === "object" && address !== null ? address.port : port;
    process.stdout.write(`receiving web-hooks on http://${host}:${bound}/hooks\n`);
  });
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}

main();
