import { writeFile } from "node:fs/promises";
import type { FileKind, FileSpec } from "./dataset-plan.js";
import { Prng, deriveSeed } from "./prng.js";
import { textBytes } from "./text-lines.js";

/** `length` bytes of the given kind: pseudo-random for binary files, text lines otherwise. */
export function contentBytes(kind: FileKind, rng: Prng, length: number): Buffer {
  return kind === "bin" ? rng.bytes(length) : textBytes(rng, kind, length);
}

/** The planned content of one file; a pure function of the dataset seed and the file's index. */
export function fileContent(spec: FileSpec, seed: number): Buffer {
  return contentBytes(spec.kind, new Prng(deriveSeed(seed, spec.index)), spec.size);
}

/** A file to write: where, and a function producing its bytes when its turn comes. */
export interface PendingWrite {
  path: string;
  render: () => Buffer;
}

/**
 * Writes files one whole-file write each, keeping up to `concurrency` writes in flight so the
 * next file is generated while the thread pool writes the previous ones. Memory stays bounded by
 * `concurrency` buffers.
 */
export async function writeFiles(files: Iterable<PendingWrite>, concurrency = 4): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  for (const file of files) {
    const data = file.render();
    const write: Promise<void> = writeFile(file.path, data).then(() => {
      inFlight.delete(write);
    });
    inFlight.add(write);
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}
