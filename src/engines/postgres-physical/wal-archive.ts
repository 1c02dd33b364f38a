import { constants } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { fsyncDir, writeFileAtomic } from "../../util/fs.js";
import {
  decodeWalObject,
  encodeWalObject,
  headerHash,
  sha256,
  segmentSystemId,
  WAL_HEADER_BYTES,
} from "./wal-object.js";
import { isArchivableName, isHistoryName, isSegmentName } from "./wal-names.js";

/** Name of the file recording the system identifier of the cluster this archive belongs to. */
export const SYSTEM_ID_FILE = "system-identifier";

/** Why a push or fetch failed, so the CLI can pick PostgreSQL's exit status. */
export type WalFailureKind = "not-found" | "conflict" | "system-mismatch" | "bad-name" | "io" | "damaged";

export class WalArchiveError extends Error {
  constructor(
    readonly kind: WalFailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type PushOutcome = "stored" | "already-archived";

/** The repository key prefix of a target's WAL: `wal/<target>/`. */
export function walPrefix(target: string): string {
  return `wal/${target}/`;
}

/**
 * The WAL archive of one target: `<repository>/wal/<target>/`, one object per WAL file
 * (see wal-object.ts). It needs nothing else of the repository — no header, no locks —
 * because `archive_command` runs as the server's OS user: pushes only ever add new
 * names (link, never rename over), and prune only deletes WAL that no retained base
 * backup needs.
 */
export class WalArchive {
  readonly dir: string;
  readonly target: string;

  constructor(repositoryPath: string, target: string) {
    this.target = target;
    this.dir = path.join(path.resolve(repositoryPath), "wal", target);
  }

  #file(name: string): string {
    if (!isArchivableName(name)) {
      throw new WalArchiveError(
        "bad-name",
        `"${name}" is not a WAL file name (segment, .partial, .history or .backup)`,
      );
    }
    return path.join(this.dir, name);
  }

  /**
   * Archives the WAL file at `source` under its base name. Returns once it is durable
   * (file and directory fsynced). Identical content already archived: "already-archived".
   * Different content under an archived name, or a segment of another cluster: throws.
   */
  async push(source: string, options: { allowSystemChange?: boolean } = {}): Promise<PushOutcome> {
    const name = path.basename(source);
    const file = this.#file(name);
    const plain = await fs.readFile(source).catch((err: NodeJS.ErrnoException) => {
      throw new WalArchiveError("io", `cannot read ${source}: ${err.code ?? err.message}`, { cause: err });
    });
    const hash = sha256(plain);
    const existing = await this.#storedHash(file);
    if (existing) {
      if (existing.equals(hash)) {
        // An earlier push may have died between link and directory fsync: make it durable now.
        await syncFile(file);
        await fsyncDir(this.dir);
        return "already-archived";
      }
      throw new WalArchiveError(
        "conflict",
        `${name} is already archived in ${this.dir} with different content; refusing to overwrite it${isHistoryName(name) ? " (history files are never overwritten)" : ""}. Another cluster may be archiving into this target, or the server was restored without a new timeline: stop archiving and investigate`,
      );
    }
    if (isSegmentName(name.slice(0, 24)) && !name.endsWith(".backup")) {
      await this.#checkSystemId(name, plain, options.allowSystemChange === true);
    }
    await this.#writeNew(file, encodeWalObject(plain));
    return "stored";
  }

  /** An archived WAL file's content, verified against its hash. */
  async read(name: string): Promise<Buffer> {
    const file = this.#file(name);
    let body: Buffer;
    try {
      body = await fs.readFile(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") throw new WalArchiveError("not-found", `${name} is not in the archive`);
      throw new WalArchiveError("io", `cannot read ${file}: ${code ?? (err as Error).message}`, {
        cause: err,
      });
    }
    try {
      return decodeWalObject(body);
    } catch (err) {
      throw new WalArchiveError("damaged", `${file} is damaged: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Copies an archived WAL file to `dest`, verified against its hash: temp file beside
   * `dest`, fsync, rename — never a partial or empty `dest`.
   */
  async fetch(name: string, dest: string): Promise<void> {
    const plain = await this.read(name);
    try {
      await writeFileAtomic(dest, plain, { mode: 0o600 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new WalArchiveError("io", `cannot write ${dest}: ${code ?? (err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Archived WAL file names (no temp files), in no particular order. */
  async list(): Promise<string[]> {
    const names = await fs.readdir(this.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return [] as string[];
      throw err;
    });
    return names.filter(isArchivableName);
  }

  /** True when `name` is archived. */
  async has(name: string): Promise<boolean> {
    return (await fs.stat(this.#file(name)).catch(() => undefined)) !== undefined;
  }

  /** The system identifier recorded by the first push, if any. */
  async systemId(): Promise<string | undefined> {
    const text = await fs.readFile(path.join(this.dir, SYSTEM_ID_FILE), "utf8").catch(() => undefined);
    return text?.trim() || undefined;
  }

  /** Deletes archived WAL files (prune). */
  async remove(names: readonly string[]): Promise<void> {
    for (const name of names) await fs.rm(this.#file(name), { force: true });
    if (names.length > 0) await fsyncDir(this.dir);
  }

  async #checkSystemId(name: string, plain: Buffer, allowChange: boolean): Promise<void> {
    const sysid = segmentSystemId(plain);
    if (sysid === undefined) {
      throw new WalArchiveError(
        "io",
        `${name} does not start with a WAL long page header; is it a WAL segment?`,
      );
    }
    const recorded = await this.systemId();
    if (recorded === undefined) {
      await this.#writeNew(path.join(this.dir, SYSTEM_ID_FILE), `${sysid}\n`).catch((err: unknown) => {
        // A concurrent first push recorded it: fine, compare below.
        if (!(err instanceof WalArchiveError && err.kind === "conflict")) throw err;
      });
      const now = await this.systemId();
      if (now === sysid) return;
    } else if (recorded === sysid) return;
    if (allowChange) return;
    throw new WalArchiveError(
      "system-mismatch",
      `${name} belongs to database system ${sysid}, but the archive of target "${this.target}" belongs to system ${recorded ?? "?"}; a restored or cloned cluster must not write into this archive. If this server really replaced the old one, take a new base backup and push with --allow-system-change`,
    );
  }

  /** Writes a new object: temp → fsync → link (fails if the name exists) → fsync directory. */
  async #writeNew(file: string, data: Buffer | string): Promise<void> {
    try {
      await writeFileAtomic(file, data, { mode: 0o600, exclusive: true });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === "EEXIST") {
        throw new WalArchiveError(
          "conflict",
          `${path.basename(file)} appeared in the archive while it was being pushed`,
        );
      }
      const hint = e.code === "EACCES" || e.code === "ENOENT" ? accessHint(this.dir) : "";
      throw new WalArchiveError("io", `cannot write to ${this.dir}: ${e.code ?? e.message}${hint}`, {
        cause: err,
      });
    }
  }

  /** The hash in the header of an archived object, or undefined when there is none. */
  async #storedHash(file: string): Promise<Buffer | undefined> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, constants.O_RDONLY);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === "ENOENT") return undefined;
      throw new WalArchiveError("io", `cannot read ${file}: ${e.code ?? e.message}${accessHint(this.dir)}`, {
        cause: err,
      });
    }
    try {
      const header = Buffer.alloc(WAL_HEADER_BYTES);
      const { bytesRead } = await handle.read(header, 0, WAL_HEADER_BYTES, 0);
      const hash = headerHash(header.subarray(0, bytesRead));
      if (!hash)
        throw new WalArchiveError(
          "damaged",
          `${file} exists but is not a valid WAL object; move it away and retry`,
        );
      return hash;
    } finally {
      await handle.close();
    }
  }
}

async function syncFile(file: string): Promise<void> {
  const handle = await fs.open(file, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function accessHint(dir: string): string {
  return ` (the archive directory must exist and belong to the PostgreSQL server's user: run \`prs-backup backup\` of this target once as root, or see docs/pitr.md; ${dir})`;
}
