import fs from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { OperationError } from "../../errors.js";
import { CommandFailedError, describeFailure, runCommand } from "../../util/subprocess.js";
import type { Keyspace } from "./info.js";

const RESIZEDB_OPCODE = 0xfb;

/** What `redis-check-rdb` and the RDB header say about one RDB file. */
export interface RdbReport {
  /** RDB format version from the header (`REDIS0010` → 10). */
  rdbVersion: number;
  /** The Redis version that wrote it (the `redis-ver` AUX field), when present. */
  writtenBy?: string;
  /** Keys and keys with a TTL per database, as written in the file (expired ones included). */
  keyspace: Keyspace;
  /** Keys redis-check-rdb read (all databases). */
  keysRead: number;
}

/** The path of a tool: in `binDir` when configured, else found on PATH. */
export function toolPath(binDir: string | undefined, tool: string): string {
  return binDir ? path.join(binDir, tool) : tool;
}

/**
 * Validates an RDB with `redis-check-rdb` (structure and checksum) and reads its per-database
 * key counts from the RESIZEDB records that follow each database selector, at the offsets
 * redis-check-rdb reports. Throws E_RDB_INVALID naming the file when the check fails.
 * `file` may be `/proc/self/fd/N`-style: the check then reads exactly the inode we hold open.
 * With `input`, redis-check-rdb reads the RDB from that stream (as it is being stored) and
 * `file` is only read afterwards for the key counts.
 */
export async function checkRdb(
  file: string,
  options: { binDir?: string; signal?: AbortSignal; label?: string; input?: Readable },
): Promise<RdbReport> {
  const label = options.label ?? file;
  const tool = toolPath(options.binDir, "redis-check-rdb");
  // redis-check-rdb reads a path; /dev/stdin works only on a real pipe, and a child's
  // stdin from Node is a socket: `cat` puts a pipe in between (the tool path is an
  // argument of sh, never part of the script).
  const argv = options.input ? ["sh", "-c", 'cat | exec "$0" /dev/stdin', tool] : [tool, file];
  const result = await runCommand(argv, {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.input ? { input: options.input } : {}),
  });
  const out = `${result.stdout}\n${result.stderrTail}`;
  if (result.exitCode !== 0 || !out.includes("RDB looks OK")) {
    const reason = /--- RDB ERROR DETECTED ---[\s\S]*?\[additional info\] While doing: ([^\n]+)/.exec(
      out,
    )?.[1];
    const last =
      out
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean)
        .find((l) => /error|unexpected|invalid|wrong/i.test(l)) ?? describeFailure(result);
    throw new CommandFailedError(
      "E_RDB_INVALID",
      `${label} is not a valid RDB (redis-check-rdb: ${reason ? `${last}; while ${reason}` : last})`,
      result,
    );
  }
  const keysRead = Number(/\[info\] (\d+) keys read/.exec(out)?.[1] ?? NaN);
  const writtenBy = /AUX FIELD redis-ver = '([^']*)'/.exec(out)?.[1];
  const selectors = [...out.matchAll(/\[offset (\d+)\] Selecting DB ID (\d+)/g)].map((m) => ({
    offset: Number(m[1]),
    db: Number(m[2]),
  }));
  const { rdbVersion, keyspace } = await readLayout(file, selectors, label);
  return { rdbVersion, keyspace, keysRead, ...(writtenBy !== undefined ? { writtenBy } : {}) };
}

async function readLayout(
  file: string,
  selectors: { offset: number; db: number }[],
  label: string,
): Promise<{ rdbVersion: number; keyspace: Keyspace }> {
  const handle = await fs.open(file, "r");
  try {
    const header = Buffer.alloc(9);
    await handle.read(header, 0, 9, 0);
    const magic = header.toString("latin1");
    if (!/^REDIS\d{4}$/.test(magic)) {
      throw new OperationError("E_RDB_INVALID", `${label} does not start with an RDB header`);
    }
    const keyspace: Keyspace = {};
    for (const { offset, db } of selectors) {
      const buf = Buffer.alloc(19);
      const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
      // Redis 3.2+ writes RESIZEDB (key count, TTL count) right after each selector.
      if (bytesRead < 3 || buf[0] !== RESIZEDB_OPCODE) continue;
      const keys = readLength(buf, 1);
      const expires = keys ? readLength(buf, 1 + keys.bytes) : undefined;
      if (keys && expires) keyspace[`db${db}`] = { keys: keys.value, expires: expires.value };
    }
    return { rdbVersion: Number(magic.slice(5)), keyspace };
  } finally {
    await handle.close();
  }
}

/** An RDB length encoding (6-bit, 14-bit, 32-bit or 64-bit big-endian). */
function readLength(buf: Buffer, at: number): { value: number; bytes: number } | undefined {
  const first = buf[at];
  if (first === undefined) return undefined;
  switch (first >> 6) {
    case 0:
      return { value: first & 0x3f, bytes: 1 };
    case 1:
      return { value: ((first & 0x3f) << 8) | buf[at + 1]!, bytes: 2 };
    default:
      if (first === 0x80) return { value: buf.readUInt32BE(at + 1), bytes: 5 };
      if (first === 0x81) return { value: Number(buf.readBigUInt64BE(at + 1)), bytes: 9 };
      return undefined;
  }
}
