import http from "node:http";
import type { AddressInfo } from "node:net";
import { UsageError, OperationError } from "../errors.js";
import type { Logger } from "../util/logger.js";

/** What the server shows; the daemon supplies it. */
export interface HttpHandlers {
  metrics(): Promise<{ contentType: string; body: string }>;
  health(): Promise<{ ok: boolean; body: unknown }>;
  page(): Promise<string>;
  statusJson(): Promise<unknown>;
}

/** Splits `HOST:PORT` (IPv6 in brackets: `[::1]:9377`). */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = Number(m?.[3]);
  if (!m || port > 65535)
    throw new UsageError(`--listen: expected HOST:PORT (e.g. 127.0.0.1:9377), got "${value}"`);
  return { host: (m[1] ?? m[2])!, port };
}

/**
 * The daemon's HTTP endpoints on node:http: GET /metrics (Prometheus text), /healthz
 * (200 or 503 with a JSON reason), / (the status page), /status.json.
 */
export class HttpServer {
  readonly #server: http.Server;
  readonly #logger: Logger;

  constructor(handlers: HttpHandlers, logger: Logger) {
    this.#logger = logger;
    this.#server = http.createServer((req, res) => {
      void this.#handle(handlers, req, res);
    });
  }

  /** Listens; resolves with the actual address (port 0 picks a free one). */
  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void =>
        reject(
          new OperationError(
            "E_LISTEN",
            `cannot listen on ${host}:${port}: ${err.code === "EADDRINUSE" ? "the address is in use (another daemon?)" : err.message}; change --listen or daemon.listen`,
            { cause: err },
          ),
        );
      this.#server.once("error", onError);
      this.#server.listen(port, host, () => {
        this.#server.off("error", onError);
        const address = this.#server.address() as AddressInfo;
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #handle(handlers: HttpHandlers, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    try {
      if (req.method !== "GET" && req.method !== "HEAD")
        return send(res, 405, "text/plain", "method not allowed\n");
      switch (path) {
        case "/metrics": {
          const m = await handlers.metrics();
          return send(res, 200, m.contentType, m.body);
        }
        case "/healthz": {
          const h = await handlers.health();
          return send(res, h.ok ? 200 : 503, "application/json", `${JSON.stringify(h.body, null, 2)}\n`);
        }
        case "/status.json":
          return send(
            res,
            200,
            "application/json",
            `${JSON.stringify(await handlers.statusJson(), null, 2)}\n`,
          );
        case "/":
          return send(res, 200, "text/html; charset=utf-8", await handlers.page());
        default:
          return send(res, 404, "text/plain", "not found: try /, /metrics, /healthz\n");
      }
    } catch (err) {
      this.#logger.error(`http ${path}: ${(err as Error).message}`);
      const body =
        path === "/healthz"
          ? `${JSON.stringify({ ok: false, problems: [{ target: "daemon", problem: (err as Error).message }] })}\n`
          : `error: ${(err as Error).message}\n`;
      send(
        res,
        path === "/healthz" ? 503 : 500,
        path === "/healthz" ? "application/json" : "text/plain",
        body,
      );
    }
  }
}

function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { "content-type": contentType, "cache-control": "no-store" });
  res.end(body);
}
