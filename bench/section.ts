/** Settings shared by every benchmark section. */
export interface BenchContext {
  /** The project root (where `dist/bin/prs-backup.js` lives). */
  projectDir: string;
  /** Scratch space for datasets, repositories and results; default `<project>/.bench`. */
  benchDir: string;
  /** Dataset size factor from `BENCH_SCALE`; 1 = full size. */
  scale: number;
  /** Runs per section (`BENCH_REPEAT`, default 1); the table shows the median of each figure. */
  repeat: number;
  /** Keep the per-run scratch directories (`BENCH_KEEP=1`); default: delete them at the end. */
  keep: boolean;
  /** Progress output (stderr), so stdout carries only the results. */
  log: (message: string) => void;
}

/** One side of a step: the runbook's method or ours. */
export interface Figures {
  wallSeconds: number;
  /** Bytes the step added to the backup storage; undefined when not applicable (restores). */
  storedBytes?: number;
  peakRssBytes: number;
  /** Time of a `sync` run right after the step: writeback it left behind when it exited. */
  flushSeconds?: number;
}

/** One row of the results table: the same step done by both methods on the same data. */
export interface StepResult {
  step: string;
  runbook: Figures;
  ours: Figures;
  /** Size of the data the step covers, for throughput (MB/s). */
  dataBytes: number;
}

/** What a section measured. */
export interface SectionResult {
  section: string;
  /** The runbook's method this section compares against, e.g. "rsync -a --link-dest". */
  runbookMethod: string;
  steps: StepResult[];
  /** Lines printed under the table: dataset parameters, caveats, checks. */
  notes: string[];
}

/** A group of benchmarks (files, postgres, redis), selectable by name on the command line. */
export interface Section {
  name: string;
  run: (context: BenchContext) => Promise<SectionResult>;
}
