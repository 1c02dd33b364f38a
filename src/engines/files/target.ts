import type { ChunkerParams } from "../../repo/chunker.js";

/** The parts of a `files` target's configuration that the engine uses. */
export interface FilesTarget {
  name: string;
  type: "files";
  paths: readonly string[];
  include?: readonly string[];
  exclude?: readonly string[];
  oneFileSystem?: boolean;
  chunking?: ChunkerParams;
  /** Worker threads that read, hash and compress files. Default: 2. */
  threads?: number;
}
