/**
 * Retention as a pure function: which snapshots of one target to keep, and which rule
 * decided. Ordered by wall-clock start time, never by name. Safe by construction:
 *   - the newest good (complete) snapshot is always kept;
 *   - while the target's latest backup is failing, nothing is expired (a rotation
 *     that keeps deleting good backups while new ones fail loses everything);
 *   - partial snapshots newer than the newest good one are kept (they hold the newest data);
 *   - count rules (keepLast, keepDaily …) count good snapshots only.
 * Buckets (hour, day, ISO week, month, year) are taken in UTC.
 */

export interface RetentionPolicy {
  days?: number;
  weeks?: number;
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
}

export interface RetentionCandidate {
  id: string;
  /** ISO 8601. */
  startTime: string;
  status: "complete" | "partial";
}

export interface RetentionDecision {
  id: string;
  startTime: string;
  keep: boolean;
  /** The rules that keep it, or why it expires. */
  reasons: string[];
}

export interface RetentionOptions {
  now: Date;
  /** The target's most recent backup run failed or was partial: expire nothing. */
  latestBackupFailed?: boolean;
}

const DAY_MS = 86_400_000;

type Bucket = (d: Date) => string;
const BUCKETS: [keyof RetentionPolicy, string, Bucket][] = [
  ["keepHourly", "hourly", (d) => d.toISOString().slice(0, 13)],
  ["keepDaily", "daily", (d) => d.toISOString().slice(0, 10)],
  ["keepWeekly", "weekly", isoWeek],
  ["keepMonthly", "monthly", (d) => d.toISOString().slice(0, 7)],
  ["keepYearly", "yearly", (d) => d.toISOString().slice(0, 4)],
];

/** Decides keep/delete for every snapshot of one target, newest first. */
export function applyRetention(
  snapshots: readonly RetentionCandidate[],
  policy: RetentionPolicy,
  options: RetentionOptions,
): RetentionDecision[] {
  const sorted = [...snapshots].sort(
    (a, b) => Date.parse(b.startTime) - Date.parse(a.startTime) || b.id.localeCompare(a.id),
  );
  const reasons = new Map<string, string[]>(sorted.map((s) => [s.id, []]));
  const keepFor = (id: string, why: string): void => void reasons.get(id)!.push(why);
  const good = sorted.filter((s) => s.status === "complete");
  const newestGood = good[0];

  if (newestGood) keepFor(newestGood.id, "newest good snapshot");
  for (const s of sorted) {
    if (newestGood && Date.parse(s.startTime) > Date.parse(newestGood.startTime))
      keepFor(s.id, "newer than the newest good snapshot");
    if (!newestGood) keepFor(s.id, "no good snapshot yet");
    if (options.latestBackupFailed) keepFor(s.id, "held: the latest backup failed");
  }
  const ageRules: [number | undefined, number, string][] = [
    [policy.days, DAY_MS, "days"],
    [policy.weeks, 7 * DAY_MS, "weeks"],
  ];
  for (const [n, unit, name] of ageRules) {
    if (n === undefined) continue;
    const cutoff = options.now.getTime() - n * unit;
    for (const s of sorted) if (Date.parse(s.startTime) > cutoff) keepFor(s.id, `within ${n} ${name}`);
  }
  if (policy.keepLast)
    for (const s of good.slice(0, policy.keepLast)) keepFor(s.id, `last ${policy.keepLast}`);
  for (const [key, label, bucketOf] of BUCKETS) {
    const n = policy[key];
    if (!n) continue;
    const seen = new Set<string>();
    for (const s of good) {
      const bucket = bucketOf(new Date(s.startTime));
      if (seen.has(bucket)) continue;
      seen.add(bucket);
      if (seen.size > n) break;
      keepFor(s.id, `${label} ${bucket}`);
    }
  }
  return sorted.map((s) => {
    const why = reasons.get(s.id)!;
    if (why.length > 0) return { id: s.id, startTime: s.startTime, keep: true, reasons: why };
    return { id: s.id, startTime: s.startTime, keep: false, reasons: [expiryReason(s, policy)] };
  });
}

function expiryReason(s: RetentionCandidate, policy: RetentionPolicy): string {
  const rules = Object.entries(policy)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join(", ");
  return `${s.status === "partial" ? "partial, " : ""}kept by no rule (${rules || "no rules"})`;
}

/** ISO 8601 week of a date in UTC, e.g. "2026-W48". */
function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / DAY_MS + 1) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}
