import fs, { type FileHandle } from "node:fs/promises";
import path from "node:path";
import { OperationError, RepoCorruptError } from "../../errors.js";
import { writeFully } from "../../util/fs.js";
import { tarPadding } from "./tar-header.js";
import { tarPath, tarSize } from "./tar-scan.js";

/** File writes in flight at once (the thread pool runs them; each holds a chunk's view). */
const WRITES_IN_FLIGHT = 16;

interface OutFile {
  handle: FileHandle;
  path: string;
  position: number;
  pending: number;
  /** Every byte has been handed to a write. */
  ended: boolean;
  meta: Meta;
}

/** Writes still reading from one pushed buffer (plus one while it is being pushed). */
interface Uses {
  count: number;
  onWritten: (() => void) | undefined;
}

function release(uses: Uses): void {
  uses.count -= 1;
  if (uses.count === 0) uses.onWritten?.();
}

interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

/**
 * Extracts a base backup's tar (as pg_basebackup and our direct copy write it: ustar
 * files, directories and symlinks) into a directory as it streams by — what `tar -x`
 * did, without a second process and a pipe: data is written straight from the decoded
 * chunks, several writes at once. Modes, times and (as root) owners are kept, as tar
 * keeps them; a path that would leave the directory is refused.
 */
export class TarExtractor {
  readonly #root: string;
  readonly #chown: boolean;
  readonly #header = Buffer.alloc(512);
  #headerFill = 0;
  #file: OutFile | undefined;
  #remaining = 0;
  #padding = 0;
  #ended = false;
  readonly #inflight = new Set<Promise<void>>();
  readonly #open = new Set<OutFile>();
  readonly #directories: [string, Meta][] = [];
  /** Directories known to exist. */
  readonly #made = new Set<string>();
  #failure: Error | undefined;

  constructor(root: string, options: { chown: boolean }) {
    this.#root = path.resolve(root);
    this.#chown = options.chown;
  }

  /**
   * Extracts the next bytes of the tar. `onWritten` runs once no write reads from `buf` any
   * more (its memory may then be reused).
   */
  async push(buf: Buffer, onWritten?: () => void): Promise<void> {
    const uses: Uses = { count: 1, onWritten };
    try {
      await this.#push(buf, uses);
    } finally {
      release(uses);
    }
  }

  async #push(buf: Buffer, uses: Uses): Promise<void> {
    let off = 0;
    while (off < buf.length && !this.#ended) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, buf.length - off);
        await this.#write(this.#file!, buf.subarray(off, off + take), uses);
        off += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#endFile();
      } else if (this.#padding > 0) {
        const take = Math.min(this.#padding, buf.length - off);
        off += take;
        this.#padding -= take;
      } else {
        const take = Math.min(512 - this.#headerFill, buf.length - off);
        buf.copy(this.#header, this.#headerFill, off, off + take);
        this.#headerFill += take;
        off += take;
        if (this.#headerFill === 512) {
          this.#headerFill = 0;
          await this.#startMember(this.#header);
        }
      }
    }
  }

  /** Waits for every write, then sets the directories' modes, owners and times. */
  async finish(): Promise<void> {
    if (!this.#ended)
      throw new RepoCorruptError("the base backup's tar ends before its end-of-archive blocks");
    await this.#drain();
    for (const [dir, meta] of this.#directories.reverse()) await this.#applyMeta(dir, meta);
  }

  /** After a failure: waits for the writes under way and closes every file. */
  async abort(): Promise<void> {
    await Promise.allSettled(this.#inflight);
    await Promise.allSettled([...this.#open].map((f) => f.handle.close()));
  }

  async #startMember(h: Buffer): Promise<void> {
    if (h.every((b) => b === 0)) {
      this.#ended = true;
      return;
    }
    const name = tarPath(h).replace(/\/+$/, "");
    const size = tarSize(h.subarray(124, 136));
    const type = String.fromCharCode(h[156] ?? 0);
    const meta: Meta = {
      mode: octal(h, 100, 8) & 0o7777,
      uid: octal(h, 108, 8),
      gid: octal(h, 116, 8),
      mtime: tarSize(h.subarray(136, 148)),
    };
    const target = this.#inside(name);
    if (type === "5") {
      await fs.mkdir(target, { recursive: true, mode: 0o700 });
      this.#made.add(target);
      this.#directories.push([target, meta]);
    } else if (type === "2") {
      const link = h.subarray(157, 257);
      const end = link.indexOf(0);
      await this.#parentOf(target);
      await fs.symlink(link.subarray(0, end === -1 ? 100 : end).toString("utf8"), target);
      if (this.#chown) await fs.lchown(target, meta.uid, meta.gid);
    } else if (type === "0" || type === "\0") {
      await this.#parentOf(target);
      const handle = await fs.open(target, "w", 0o600);
      const file: OutFile = { handle, path: target, position: 0, pending: 0, ended: false, meta };
      this.#open.add(file);
      this.#file = file;
      this.#remaining = size;
      this.#padding = tarPadding(size);
      if (size === 0) this.#endFile();
      return;
    } else {
      throw new OperationError(
        "E_RESTORE_FAILED",
        `the base backup holds ${name}, a tar member of type "${type}", which is not restored`,
      );
    }
    this.#remaining = 0;
    this.#padding = tarPadding(size);
  }

  #endFile(): void {
    const file = this.#file!;
    file.ended = true;
    if (file.pending === 0) this.#track(this.#close(file));
  }

  async #write(file: OutFile, data: Buffer, uses: Uses): Promise<void> {
    while (this.#inflight.size >= WRITES_IN_FLIGHT) await Promise.race(this.#inflight);
    this.#throwIfFailed();
    const position = file.position;
    file.position += data.length;
    file.pending += 1;
    uses.count += 1;
    this.#track(
      writeFully(file.handle, data, position)
        .finally(() => release(uses))
        .then(async () => {
          file.pending -= 1;
          if (file.ended && file.pending === 0) await this.#close(file);
        }),
    );
  }

  async #close(file: OutFile): Promise<void> {
    this.#open.delete(file);
    try {
      if (this.#chown) await file.handle.chown(file.meta.uid, file.meta.gid);
      await file.handle.chmod(file.meta.mode);
      await file.handle.utimes(file.meta.mtime, file.meta.mtime);
    } finally {
      await file.handle.close();
    }
  }

  #track(work: Promise<void>): void {
    const tracked: Promise<void> = work
      .catch((err: unknown) => {
        this.#failure ??= err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => this.#inflight.delete(tracked));
    this.#inflight.add(tracked);
  }

  async #drain(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.race(this.#inflight);
    this.#throwIfFailed();
  }

  async #applyMeta(target: string, meta: Meta): Promise<void> {
    if (this.#chown) await fs.chown(target, meta.uid, meta.gid);
    await fs.chmod(target, meta.mode);
    await fs.utimes(target, meta.mtime, meta.mtime);
  }

  async #parentOf(target: string): Promise<void> {
    const parent = path.dirname(target);
    if (this.#made.has(parent)) return;
    await fs.mkdir(parent, { recursive: true, mode: 0o700 });
    this.#made.add(parent);
  }

  /** The member's path under the root; a member that would leave it is refused. */
  #inside(name: string): string {
    const target = path.resolve(this.#root, name);
    if (name === "" || path.isAbsolute(name) || !target.startsWith(`${this.#root}${path.sep}`)) {
      throw new RepoCorruptError(`the base backup's tar holds a path outside the data directory: ${name}`);
    }
    return target;
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
  }
}

function octal(h: Buffer, offset: number, width: number): number {
  return tarSize(h.subarray(offset, offset + width));
}
