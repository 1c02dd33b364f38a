import { closeSync, fchmodSync, fchownSync, futimesSync, openSync, renameSync, unlinkSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { RepoCorruptError } from "../../errors.js";
import type { DecodeJob } from "../../repo/decode-pool.js";
import { EntryCheck } from "../../repo/entry-content.js";
import { FrameDamage, FrameReader, SpareBuffers } from "../../repo/frame-reader.js";
import { writeFullySync } from "../../util/fs.js";
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
const spare = new SpareBuffers(4);

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
        const data = reader.object(job.object, spare.take);
        check.update(data);
        writeFullySync(fd, data);
        spare.give(data.buffer as ArrayBuffer);
        continue;
      }
      // Every use is checked, so a damaged frame kept for the next file fails that one too.
      const frame = decoded(job);
      reader.checkChunks(frame, job.chunks, job.ref);
      for (const [, start, size] of job.chunks) {
        const data = frame.subarray(start, start + size);
        check.update(data);
        writeFullySync(fd, data);
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
  data = reader.frame(frame, job.ref, job.chunks[0]![0], spare.take);
  frames.set(key, data);
  if (frames.size > FRAMES_KEPT) {
    const [oldest, evicted] = frames.entries().next().value!;
    frames.delete(oldest);
    spare.give(evicted.buffer as ArrayBuffer);
  }
  return data;
}
