import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileContent, writeFiles } from "./dataset-content.js";
import {
  type DatasetMarker,
  type DatasetSummary,
  GENERATOR_VERSION,
  markerPath,
  readMarker,
  summarizePlan,
  writeMarker,
} from "./dataset-marker.js";
import { type DatasetParams, type FileSpec, planDataset } from "./dataset-plan.js";
import { revertMutations } from "./mutate.js";
import { listTree } from "./tree-list.js";

/** The seed used when none is given. */
export const DEFAULT_SEED = 20240101;

/** A dataset ready to be backed up. */
export interface Dataset extends DatasetSummary {
  dir: string;
  params: DatasetParams;
  /** True when an existing tree was reused rather than generated. */
  reused: boolean;
  /** Time spent generating, reverting or checking the tree. */
  seconds: number;
}

/** True when the tree in `dir` holds exactly the planned files with their planned sizes. */
async function matchesPlan(dir: string, plan: readonly FileSpec[]): Promise<boolean> {
  const entries = await listTree(dir);
  const files = [...entries.values()].filter((e) => e.type !== "dir");
  return files.length === plan.length && plan.every((f) => entries.get(f.path)?.size === f.size);
}

async function generate(dir: string, params: DatasetParams, plan: readonly FileSpec[]): Promise<void> {
  await rm(markerPath(dir), { force: true });
  await rm(dir, { recursive: true, force: true });
  for (const sub of new Set(plan.map((f) => f.path.slice(0, f.path.lastIndexOf("/"))))) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  await writeFiles(plan.map((f) => ({ path: join(dir, f.path), render: () => fileContent(f, params.seed) })));
}

async function reusable(dir: string, params: DatasetParams, plan: readonly FileSpec[]): Promise<boolean> {
  let marker: DatasetMarker | undefined = await readMarker(dir);
  const same =
    marker?.version === GENERATOR_VERSION &&
    marker.params.scale === params.scale &&
    marker.params.seed === params.seed;
  if (!same || marker === undefined) return false;
  if (marker.mutations.length > 0) marker = await revertMutations(dir, marker);
  return matchesPlan(dir, plan);
}

/**
 * Makes sure `dir` holds the deterministic dataset for `scale` (1 = ~2 GB in ~20,000 files):
 * reuses an existing tree generated with the same parameters (undoing earlier mutations), and
 * generates it from scratch otherwise. Streams file by file, so memory stays small.
 */
export async function prepareDataset(options: {
  dir: string;
  scale: number;
  seed?: number;
}): Promise<Dataset> {
  const started = performance.now();
  const params: DatasetParams = { scale: options.scale, seed: options.seed ?? DEFAULT_SEED };
  const plan = planDataset(params);
  const summary = summarizePlan(plan);
  const reused = await reusable(options.dir, params, plan);
  if (!reused) {
    await generate(options.dir, params, plan);
    await writeMarker(options.dir, { version: GENERATOR_VERSION, params, ...summary, mutations: [] });
  }
  const seconds = (performance.now() - started) / 1000;
  return { dir: options.dir, params, ...summary, reused, seconds };
}
