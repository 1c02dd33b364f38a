import {
  closeSync,
  fchmodSync,
  fchownSync,
  futimesSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { RepoCorruptError } from "../../errors.js";
import type { DecodeJob } from "../../repo/decode-pool.js";
import { EntryCheck } from "../../repo/entry-content.js";
import { FrameDamage, FrameReader, sha256 } from "../../repo/frame-reader.js";
import type { WriteBatch, WriteFile, WriteReply } from "./write-pool.js";

/**
 * A worker thread of a files restore (write-pool.ts): for each file of a batch it reads
 * the frames from the local repository, decodes and checks every chunk, writes the file
 * under a temp name with blocking calls (no thread-pool round trip per syscall), sets
 * owner, mode and times, and renames it into place only when the whole-file check passed.
 */
const { root, chown } = workerData as { root: string; chown: boolean };
const port = parentPort!;
const reader = new FrameReader(root);

/** Decoded frames kept: the small files of a batch are cut from the same few frames. */
const FRAMES_KEPT = 2;
const frames = new Map<string, Buffer>();
/** Buffers to decode into: evicted frames' and written objects'. */
const spare: Buffer[] = [];
const SPARE_MAX = 4;
/** Decoded frames are at most about this big (a pack frame of 512 KiB plus one chunk). */
const BUFFER_BYTES = 1024 * 1024;

port.on("message", (batch: WriteBatch) => {
  let bytes = 0;
  let current: WriteFile | undefined;
  try {
    for (const file of batch.files) {
      current = file;
      writeFile(file);
      bytes += file.entry.size;
    }
    port.postMessage({ job: batch.job, bytes } satisfies WriteReply);
  } catch (err) {
    const damage = err instanceof FrameDamage || err instanceof RepoCorruptError;
    const { code, path } = err as NodeJS.ErrnoException;
    const reply: WriteReply = {
      job: batch.job,
      error: (err as Error).message,
      damage,
      path: current?.entry.path ?? "",
      ...(code !== undefined ? { code } : {}),
      ...(path !== undefined ? { syscallPath: path } : {}),
    };
    port.postMessage(reply);
  }
});

function writeFile(file: WriteFile): void {
  const { entry } = file;
  const check = new EntryCheck(entry);
  const fd = openSync(file.temp, "wx", 0o600);
  try {
    for (const job of file.jobs) {
      if (job.object !== undefined) {
        const data = reader.object(job.object, output);
        if (sha256(data) !== job.object) throw reader.damaged(job.object, undefined);
        check.update(data);
        writeAll(fd, data);
        keep(data);
        continue;
      }
      const frame = decoded(job);
      for (const [id, start, size] of job.chunks) {
        const data = frame.subarray(start, start + size);
        if (data.length !== size || sha256(data) !== id) {
          frames.clear();
          throw reader.damaged(id, job.ref);
        }
        check.update(data);
        writeAll(fd, data);
      }
    }
    check.finish();
    if (chown) fchownSync(fd, entry.uid, entry.gid);
    fchmodSync(fd, entry.mode);
    futimesSync(fd, file.time, file.time);
  } catch (err) {
    closeSync(fd);
    unlinkSync(file.temp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(file.temp, file.dest);
  } catch (err) {
    unlinkSync(file.temp);
    throw err;
  }
}

/** A job's frame, decoded, from the few kept (consecutive files share frames). */
function decoded(job: DecodeJob): Buffer {
  const frame = job.frame!;
  const key = `${frame.pack}@${frame.offset}`;
  let data = frames.get(key);
  if (data) return data;
  data = reader.frame(frame, job.ref, job.chunks[0]![0], output);
  frames.set(key, data);
  if (frames.size > FRAMES_KEPT) {
    const [oldest, evicted] = frames.entries().next().value!;
    frames.delete(oldest);
    keep(evicted);
  }
  return data;
}

function output(size: number): Buffer {
  const reused = spare.pop();
  if (reused && reused.buffer.byteLength >= size) return Buffer.from(reused.buffer, 0, size);
  return Buffer.from(new ArrayBuffer(Math.max(size, BUFFER_BYTES)), 0, size);
}

function keep(buffer: Buffer): void {
  if (spare.length < SPARE_MAX) spare.push(buffer);
}

function writeAll(fd: number, data: Buffer): void {
  for (let done = 0; done < data.length;) done += writeSync(fd, data, done, data.length - done);
}
