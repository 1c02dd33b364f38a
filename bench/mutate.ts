import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { contentBytes, fileContent, writeFiles } from "./dataset-content.js";
import { type DatasetMarker, readMarker, writeMarker } from "./dataset-marker.js";
import { planDataset } from "./dataset-plan.js";
import { type MutationPlan, planMutation } from "./mutation-plan.js";
import { Prng } from "./prng.js";

/** What `mutate` changed, as paths relative to the dataset root. */
export interface MutationResult {
  modified: string[];
  added: string[];
  /** Bytes written: rewritten regions, appended tails and new files. */
  bytesWritten: number;
  /** Bytes the tree grew by: appended tails and new files. */
  bytesAdded: number;
}

async function applyMutation(dir: string, mutation: MutationPlan): Promise<void> {
  for (const change of mutation.changes) {
    const rng = new Prng(change.seed);
    const handle = await open(join(dir, change.spec.path), "r+");
    try {
      await handle.write(
        contentBytes(change.spec.kind, rng, change.regionLength),
        0,
        undefined,
        change.offset,
      );
      await handle.write(
        contentBytes(change.spec.kind, rng, change.appendLength),
        0,
        undefined,
        change.spec.size,
      );
    } finally {
      await handle.close();
    }
  }
  await writeFiles(
    mutation.added.map((file) => ({
      path: join(dir, file.path),
      render: () => contentBytes(file.kind, new Prng(file.seed), file.size),
    })),
  );
}

/**
 * Mutates the dataset in `dir` as a day of uploads would: 1% of the files get a region in their
 * middle rewritten and a little appended (so content, size and mtime change), and 1% new files
 * appear. Deterministic for a given seed. The seed is recorded in the dataset's marker first, so
 * the next `prepareDataset` can undo it even after a crash.
 */
export async function mutate(dir: string, seed: number): Promise<MutationResult> {
  const marker = await readMarker(dir);
  if (marker === undefined) throw new Error(`mutate: ${dir} has no dataset marker; generate it first`);
  const mutation = planMutation(planDataset(marker.params), seed);
  await writeMarker(dir, { ...marker, mutations: [...marker.mutations, seed] });
  await applyMutation(dir, mutation);
  const sum = (values: number[]) => values.reduce((total, n) => total + n, 0);
  const appended = sum(mutation.changes.map((c) => c.appendLength));
  const newBytes = sum(mutation.added.map((f) => f.size));
  return {
    modified: mutation.changes.map((c) => c.spec.path),
    added: mutation.added.map((f) => f.path),
    bytesWritten: sum(mutation.changes.map((c) => c.regionLength)) + appended + newBytes,
    bytesAdded: appended + newBytes,
  };
}

/**
 * Undoes the mutations recorded in the marker: modified files are rewritten from the plan, added
 * files removed. Returns the marker with no mutations left.
 */
export async function revertMutations(dir: string, marker: DatasetMarker): Promise<DatasetMarker> {
  const plan = planDataset(marker.params);
  for (const seed of marker.mutations) {
    const mutation = planMutation(plan, seed);
    await writeFiles(
      mutation.changes.map(({ spec }) => ({
        path: join(dir, spec.path),
        render: () => fileContent(spec, marker.params.seed),
      })),
    );
    await Promise.all(mutation.added.map((file) => rm(join(dir, file.path), { force: true })));
  }
  const reverted = { ...marker, mutations: [] };
  await writeMarker(dir, reverted);
  return reverted;
}
