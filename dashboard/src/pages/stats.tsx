// Stats: the service level objectives; events by source and decisions by severity over time;
// which rules fire most, which nearly fire most, which never fire; outcomes.

import { get, query } from "../api";
import { ErrorNote, Panel, useLoad } from "../ui";

type Counts = Record<string, number>;

interface Bucket {
  start: string;
  events: { total: number; by_source: Counts; by_type: Counts };
  decisions: { total: number; by_rule: Counts; by_severity: Counts; near_misses_by_rule: Counts };
  outcomes: Counts;
}

interface Stats {
  since: string;
  until: string;
  bucket: string;
  buckets: Bucket[];
}

const RANGES: Record<string, { hours: number; bucket: string; label: string }> = {
  "1h": { hours: 1, bucket: "5m", label: "last hour" },
  "24h": { hours: 24, bucket: "1h", label: "last 24 hours" },
  "7d": { hours: 168, bucket: "6h", label: "last 7 days" },
};

interface SloWindow {
  window: string;
  total: number;
  good: number;
  compliance: number | null;
  burn_rate: number | null;
}

interface Slo {
  at: string;
  period: string;
  slos: {
    name: string;
    within: string | null;
    objective: number;
    windows: SloWindow[];
    budget_remaining: number | null;
    alerts: { name: string; long: string; short: string; burn_rate_over: number; firing: boolean }[];
  }[];
}

const SLO_NAMES: Record<string, string> = {
  event_to_decision: "Events decided within",
  decision_to_notification: "Decisions notified within",
  reconciliation_accuracy: "Reconciliations alike",
};

const SEVERITIES = ["critical", "high", "medium", "low", "info", "none", ""];

function sum(buckets: Bucket[], pick: (b: Bucket) => Counts): [string, number][] {
  const total = new Map<string, number>();
  for (const b of buckets) for (const [k, v] of Object.entries(pick(b))) total.set(k, (total.get(k) ?? 0) + v);
  return [...total.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

export function StatsPage({ range, go, rules }: { range: string; go: (r: string) => void; rules: string[] | null | undefined }) {
  const r = RANGES[range] ?? RANGES["24h"];
  const stats = useLoad(() => {
    const until = new Date();
    const since = new Date(until.getTime() - r.hours * 3600_000);
    return get<Stats>(`/v1/stats${query({ since: since.toISOString(), until: until.toISOString(), bucket: r.bucket })}`);
  }, [range]);
  const slo = useLoad(() => get<Slo>("/v1/slo"), [range]);
  const buckets = stats.value?.buckets ?? [];
  const sources = sum(buckets, (b) => b.events.by_source);
  const top = sources.slice(0, 6).map(([k]) => k);
  const fired = sum(buckets, (b) => b.decisions.by_rule).filter(([k]) => k !== "");
  const near = sum(buckets, (b) => b.decisions.near_misses_by_rule);
  const outcomes = sum(buckets, (b) => b.outcomes);
  const never = rules ? rules.filter((id) => !fired.some(([k]) => k === id)) : rules;
  return (
    <div class="stack">
      <nav class="tabs" aria-label="Range">
        {Object.entries(RANGES).map(([k, v]) => (
          <a key={k} href={`#/stats?range=${k}`} aria-current={k === range ? "page" : undefined} onClick={() => go(k)}>
            {v.label}
          </a>
        ))}
      </nav>
      <ErrorNote error={stats.error} />
      <div class="grid">
        <Panel title={`Service level objectives${slo.value ? `, over ${slo.value.period}` : ""}`} id="h-slo" wide>
          <ErrorNote error={slo.error} />
          {slo.value ? <SloTable slo={slo.value} /> : slo.error ? null : <p class="muted">Reading the objectives…</p>}
        </Panel>
        <Panel title={`Events by source, ${r.label} (per ${r.bucket})`} id="h-events-chart" wide>
          <Stacked
            buckets={buckets}
            series={[...top, "other"]}
            value={(b, s) => (s === "other" ? b.events.total - top.reduce((n, t) => n + (b.events.by_source[t] ?? 0), 0) : (b.events.by_source[s] ?? 0))}
            label="events"
          />
        </Panel>
        <Panel title={`Decisions by severity (per ${r.bucket})`} id="h-decisions-chart" wide>
          <Stacked buckets={buckets} series={SEVERITIES} value={(b, s) => b.decisions.by_severity[s] ?? 0} label="decisions" names={{ "": "none" }} />
        </Panel>
        <Panel title="Rules that fire most" id="h-fired">
          <Ranking rows={fired} empty="No rule fired." />
        </Panel>
        <Panel title="Rules that nearly fire most" id="h-near">
          <Ranking rows={near} empty="No near miss." />
        </Panel>
        <Panel title="Rules that never fired" id="h-never">
          {never === undefined ? (
            <p class="muted">Reading the rule set…</p>
          ) : never === null ? (
            <p class="muted">The rule set could not be read.</p>
          ) : never.length === 0 ? (
            <p class="empty">Every rule fired at least once.</p>
          ) : (
            <ul class="plain">
              {never.map((id) => (
                <li key={id}>
                  <code>{id}</code>
                </li>
              ))}
            </ul>
          )}
        </Panel>
        <Panel title="Outcomes" id="h-outcomes-stats">
          <Ranking rows={outcomes} empty="No outcome recorded." />
        </Panel>
      </div>
    </div>
  );
}

function percent(n: number | null): string {
  return n === null ? "–" : `${n >= 99.95 && n < 100 ? n.toFixed(2) : n.toFixed(1)} %`;
}

// The budget left, or how many times over it was spent.
function budget(left: number | null): string {
  if (left === null || left >= 0) return percent(left);
  const spent = (100 - left) / 100;
  return `spent ${spent >= 10 ? spent.toFixed(0) : spent.toFixed(1)}×`;
}

function SloTable({ slo }: { slo: Slo }) {
  const windows = slo.slos[0]?.windows.map((w) => w.window) ?? [];
  return (
    <div class="table-wrap">
      <table class="slo cards">
        <thead>
          <tr>
            <th scope="col">Objective</th>
            {windows.map((w) => (
              <th scope="col" key={w} class="num">
                {w}
              </th>
            ))}
            <th scope="col" class="num">
              Budget left
            </th>
            <th scope="col">Alerts</th>
          </tr>
        </thead>
        <tbody>
          {slo.slos.map((s) => {
            const firing = s.alerts.filter((a) => a.firing);
            return (
              <tr key={s.name} data-slo={s.name}>
                <th scope="row">
                  <span class="slo-cell start">
                    <span>
                      {SLO_NAMES[s.name] ?? s.name} {s.within ?? ""}
                    </span>
                    <span class="muted">{s.objective} % of them</span>
                  </span>
                </th>
                {s.windows.map((w) => (
                  <td key={w.window} class="num" data-label={w.window} title={`${w.good} of ${w.total} in time; burn rate ${w.burn_rate === null ? "–" : w.burn_rate.toFixed(2)}`}>
                    <span class="slo-cell">
                      <span class={w.compliance !== null && w.compliance < s.objective ? "bad" : undefined}>{percent(w.compliance)}</span>
                      <span class="muted">of {w.total}</span>
                    </span>
                  </td>
                ))}
                <td class="num" data-label="Budget left">
                  <span class={s.budget_remaining !== null && s.budget_remaining < 0 ? "bad" : undefined}>{budget(s.budget_remaining)}</span>
                </td>
                <td data-label="Alerts">
                  {firing.length === 0 ? (
                    <span class="muted">none</span>
                  ) : (
                    firing.map((a) => (
                      <span key={a.name} class="badge down" title={`burn rate over ${a.burn_rate_over.toFixed(1)} in ${a.long} and ${a.short}`}>
                        {a.name}
                      </span>
                    ))
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function Ranking({ rows, empty }: { rows: [string, number][]; empty: string }) {
  if (rows.length === 0) return <p class="empty">{empty}</p>;
  const max = Math.max(...rows.map(([, n]) => n));
  return (
    <table class="ranking">
      <tbody>
        {rows.slice(0, 12).map(([k, n]) => (
          <tr key={k}>
            <th scope="row">{k}</th>
            <td class="bar-cell">
              <span class="bar" style={{ width: `${(n / max) * 100}%` }}></span>
            </td>
            <td class="num">{n}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const COLOURS = ["#1f5fbf", "#b35c00", "#6f42c1", "#0f7b6c", "#b3261e", "#5a6372", "#8a5a00"];
const SEVERITY_COLOURS: Record<string, string> = {
  critical: "#7a1610",
  high: "#c2410c",
  medium: "#b58100",
  low: "#1f5fbf",
  info: "#5a6372",
  none: "#aab2bf",
  "": "#aab2bf",
};

function Stacked({
  buckets,
  series,
  value,
  label,
  names = {},
}: {
  buckets: Bucket[];
  series: string[];
  value: (b: Bucket, s: string) => number;
  label: string;
  names?: Record<string, string>;
}) {
  const totals = buckets.map((b) => series.reduce((n, s) => n + value(b, s), 0));
  const max = Math.max(1, ...totals);
  const w = 720;
  const h = 160;
  const bw = w / Math.max(1, buckets.length);
  const colour = (s: string, i: number) => SEVERITY_COLOURS[s] && label === "decisions" ? SEVERITY_COLOURS[s] : COLOURS[i % COLOURS.length];
  const shown = series.filter((s) => buckets.some((b) => value(b, s) > 0));
  if (shown.length === 0) return <p class="empty">Nothing in this range.</p>;
  return (
    <div>
      <svg class="stacked" viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="none" role="img" aria-label={`${label} per bucket, at most ${max}`}>
        {buckets.map((b, i) => {
          let y = h;
          return series.map((s, j) => {
            const v = value(b, s);
            if (v <= 0) return null;
            const bh = (v / max) * (h - 4);
            y -= bh;
            return (
              <rect key={`${i}-${s}`} x={i * bw + 1} y={y} width={Math.max(1, bw - 2)} height={bh} fill={colour(s, j)}>
                <title>{`${b.start}: ${names[s] ?? s} ${v}`}</title>
              </rect>
            );
          });
        })}
      </svg>
      <ul class="legend">
        {series.map((s, j) =>
          shown.includes(s) ? (
            <li key={s}>
              <span class="swatch" style={{ background: colour(s, j), borderColor: colour(s, j) }} aria-hidden="true"></span> {names[s] ?? s}
            </li>
          ) : null,
        )}
      </ul>
    </div>
  );
}
