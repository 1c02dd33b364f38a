import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { CLI } from "../helpers/cli.js";
import { freePort } from "../../src/util/free-port.js";

export { freePort };

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`);
}

/** A running `prs-backup daemon`, its output collected. */
export interface DaemonProcess {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the built CLI's daemon on a free loopback port and waits for it to listen. */
export async function startDaemon(config: string, env: NodeJS.ProcessEnv = {}): Promise<DaemonProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [CLI, "--config", config, "daemon", "--listen", `127.0.0.1:${port}`],
    {
      env: { ...process.env, PRS_BACKUP_CONFIG: undefined, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`the daemon to listen on ${url}`, async () =>
    (await fetch(`${url}/healthz`)).status > 0 ? true : undefined,
  );
  return { child, url, stderr: () => err, exited };
}

/** An HTTP server that records every request body (webhooks, pings). */
export async function startReceiver(): Promise<{
  url: string;
  requests: { path: string; body: string }[];
  close: () => Promise<void>;
}> {
  const requests: { path: string; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      requests.push({ path: req.url ?? "/", body });
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A scratch directory with a repository, initialised by the caller. */
export async function scratch(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), "prs-daemon-"));
}
