import fs from "node:fs/promises";
import { OperationError } from "../../errors.js";
import { normalizeRoots } from "../../util/paths.js";
import type { Engine } from "../engine.js";
import { backupFiles } from "./backup.js";
import { drillFiles } from "./drill.js";
import { restoreFiles } from "./restore.js";
import type { FilesTarget } from "./target.js";

/** Files, directories and symlinks: the uploads, logs and config targets. */
export const filesEngine: Engine<FilesTarget> = {
  type: "files",

  async preflight(target) {
    for (const [i, root] of target.paths.entries()) {
      const st = await fs.lstat(root).catch((err: NodeJS.ErrnoException) => err);
      if (st instanceof Error) {
        const why = st.code === "ENOENT" ? "does not exist" : `cannot be read (${st.code ?? st.message})`;
        throw new OperationError("E_SOURCE_MISSING", `targets.${target.name}.paths[${i}]: ${root} ${why}`);
      }
    }
    normalizeRoots(target.paths);
  },

  backup: (target, ctx) => backupFiles(target, ctx),
  restore: (target, request, ctx) => restoreFiles(request, ctx, target.threads),
  drill: (target, snapshot, ctx) => drillFiles(snapshot, ctx, target.threads),
};
