import { readFile, rename, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { DatasetParams, FileSpec } from "./dataset-plan.js";

/** Bump when the generator changes, so older trees are regenerated rather than reused. */
export const GENERATOR_VERSION = 1;

/** Counts describing a dataset, as printed under the results table. */
export interface DatasetSummary {
  files: number;
  bytes: number;
  textFiles: number;
  textBytes: number;
}

/**
 * The marker kept beside a generated dataset (`<dir>.json`, outside the tree so that backing the
 * tree up does not back the marker up): the parameters it was generated from, and the seeds of the
 * mutations applied since, which must be undone before the tree is reused.
 */
export interface DatasetMarker extends DatasetSummary {
  version: number;
  params: DatasetParams;
  mutations: number[];
}

/** Where the marker of the dataset in `dir` lives. */
export function markerPath(dir: string): string {
  return `${resolve(dir)}.json`;
}

/** Reads the marker of the dataset in `dir`; undefined when there is none or it is unreadable. */
export async function readMarker(dir: string): Promise<DatasetMarker | undefined> {
  try {
    return JSON.parse(await readFile(markerPath(dir), "utf8")) as DatasetMarker;
  } catch {
    return undefined;
  }
}

/** Replaces the marker of the dataset in `dir` (temp file + rename, so it is never half-written). */
export async function writeMarker(dir: string, marker: DatasetMarker): Promise<void> {
  const path = markerPath(dir);
  await writeFile(`${path}.tmp`, `${JSON.stringify(marker, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
}

/** Counts files and bytes of a plan, in total and for text files. */
export function summarizePlan(plan: readonly FileSpec[]): DatasetSummary {
  const text = plan.filter((f) => f.kind !== "bin");
  const sum = (files: readonly FileSpec[]) => files.reduce((total, f) => total + f.size, 0);
  return { files: plan.length, bytes: sum(plan), textFiles: text.length, textBytes: sum(text) };
}
