// Executions: a list by machine and status; an execution's page draws its state machine from
// the ASL definition, each state coloured by what the history says happened to it, and lists
// the history events, as the Step Functions console does.

import { useState } from "preact/hooks";
import { get, query } from "../api";
import { ErrorNote, href, Json, Pager, Panel, Rows, dateTime, useLoad } from "../ui";

interface ExecutionSummary {
  name: string;
  machine: string;
  status: string;
  start?: string;
  stop?: string | null;
  error?: string | null;
  state?: string | null;
}

interface HistoryEvent {
  id: number;
  type: string;
  timestamp: string;
  [details: string]: unknown;
}

interface Execution extends ExecutionSummary {
  input?: unknown;
  output?: unknown;
  cause?: string | null;
  history?: { events?: HistoryEvent[] } | HistoryEvent[];
  definition?: Asl;
}

export interface AslState {
  Type: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: { Next?: string }[];
  Catch?: { Next?: string; ErrorEquals?: string[] }[];
  Branches?: Asl[];
  Iterator?: Asl;
  ItemProcessor?: Asl;
}

export interface Asl {
  StartAt: string;
  States: Record<string, AslState>;
  Comment?: string;
}

export type StateStatus = "succeeded" | "failed" | "caught" | "running";

export function ExecutionsPage({ machine, status, go }: { machine?: string; status?: string; go: (machine?: string, status?: string) => void }) {
  const [pages, setPages] = useState<string[]>([]);
  const cursor = pages[pages.length - 1];
  const list = useLoad(
    () => get<{ executions: ExecutionSummary[]; next: string | null }>(`/v1/executions${query({ machine, status, limit: 50, cursor })}`),
    [machine, status, cursor],
  );
  return (
    <div class="stack">
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          setPages([]);
          go(String(f.get("machine") ?? "") || undefined, String(f.get("status") ?? "") || undefined);
        }}
      >
        <label>
          Machine
          <input name="machine" defaultValue={machine ?? ""} placeholder="decision" />
        </label>
        <label>
          Status
          <select name="status" defaultValue={status ?? ""}>
            <option value="">any</option>
            <option value="RUNNING">running</option>
            <option value="SUCCEEDED">succeeded</option>
            <option value="FAILED">failed</option>
            <option value="TIMED_OUT">timed out</option>
            <option value="ABORTED">aborted</option>
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorNote error={list.error} />
      {list.value && list.value.executions.length === 0 ? <p class="empty">No execution matches.</p> : null}
      {list.value && list.value.executions.length > 0 ? (
        <Rows
          class="list"
          caption="Executions, newest first"
          rows={list.value.executions}
          rowKey={(e) => e.name}
          columns={[
            { label: "Execution", cell: (e) => <a href={href("executions", e.name)}>{e.name}</a> },
            { label: "Machine", cell: (e) => e.machine },
            { label: "Status", cell: (e) => <span class={`exec exec-${e.status.toLowerCase()}`}>{e.status}</span> },
            { label: "Started", class: "nowrap", cell: (e) => dateTime(e.start) },
            { label: "Where", cell: (e) => e.error ?? e.state ?? "" },
          ]}
        />
      ) : null}
      <Pager pages={pages} setPages={setPages} next={list.value?.next} />
    </div>
  );
}

function historyOf(e: Execution): HistoryEvent[] {
  const h = e.history;
  if (Array.isArray(h)) return h;
  return h?.events ?? [];
}

/** What the history says happened to each state, by name. */
export function statuses(events: HistoryEvent[]): Map<string, StateStatus> {
  const out = new Map<string, StateStatus>();
  let last: string | null = null;
  for (const ev of events) {
    const entered = ev.stateEnteredEventDetails as { name?: string } | undefined;
    const exited = ev.stateExitedEventDetails as { name?: string } | undefined;
    if (ev.type.endsWith("StateEntered") && entered?.name) {
      out.set(entered.name, "running");
      last = entered.name;
    } else if (ev.type.endsWith("StateExited") && exited?.name) {
      out.set(exited.name, out.get(exited.name) === "caught" ? "caught" : "succeeded");
    } else if (ev.type === "ExecutionFailed" || ev.type === "ExecutionTimedOut" || ev.type === "ExecutionAborted") {
      if (last) out.set(last, "failed");
    } else if (ev.type.endsWith("Failed") || ev.type.endsWith("TimedOut")) {
      if (last) out.set(last, "caught");
    }
  }
  return out;
}

export function ExecutionPage({ name }: { name: string }) {
  const e = useLoad(() => get<Execution>(`/v1/executions/${encodeURIComponent(name)}`), [name]);
  if (e.error) return <ErrorNote error={e.error} />;
  if (!e.value) return <p class="empty">Loading…</p>;
  const x = e.value;
  const events = historyOf(x);
  const seen = statuses(events);
  return (
    <div class="stack">
      <section class="headline">
        <span class={`exec exec-${x.status.toLowerCase()}`}>{x.status}</span>
        <h2 class="explanation">{x.name}</h2>
        <p class="muted">
          {x.machine} · started {dateTime(x.start)}
          {x.stop ? ` · stopped ${dateTime(x.stop)}` : ""}
          {x.error ? ` · ${x.error}` : ""}
          {x.cause ? `: ${x.cause}` : ""}
        </p>
      </section>
      <Panel title="State machine" id="h-graph" wide>
        {x.definition ? <Graph asl={x.definition} seen={seen} label={x.machine} /> : <p class="empty">The server did not send the definition.</p>}
        <Legend />
      </Panel>
      <Panel title={`History (${events.length} events)`} id="h-history" wide>
        <Rows
          class="list history"
          rows={events}
          rowKey={(ev) => ev.id}
          rowProps={(ev) => ({ class: /Failed|TimedOut|Aborted/.test(ev.type) ? "alarm" : "" })}
          columns={[
            { label: "#", cell: (ev) => ev.id },
            { label: "Type", cell: (ev) => ev.type },
            { label: "State", cell: stateName },
            { label: "Time", class: "nowrap", cell: (ev) => dateTime(ev.timestamp) },
            { label: "Details", cell: detail },
          ]}
        />
      </Panel>
      <div class="grid">
        <Panel title="Input" id="h-input">
          <Json value={x.input} />
        </Panel>
        <Panel title="Output" id="h-output">
          <Json value={x.output} />
        </Panel>
      </div>
    </div>
  );
}

function stateName(ev: HistoryEvent): string {
  for (const k of ["stateEnteredEventDetails", "stateExitedEventDetails", "mapIterationStartedEventDetails"]) {
    const d = ev[k] as { name?: string } | undefined;
    if (d?.name) return d.name;
  }
  return "";
}

function detail(ev: HistoryEvent): string {
  for (const [k, v] of Object.entries(ev)) {
    if (!k.endsWith("EventDetails") || !v || typeof v !== "object") continue;
    const d = v as Record<string, unknown>;
    if (typeof d.error === "string") return `${d.error}${typeof d.cause === "string" ? `: ${d.cause}` : ""}`;
    if (typeof d.resource === "string") return `${d.resourceType ?? ""} ${d.resource}`.trim();
  }
  return "";
}

function Legend() {
  return (
    <ul class="legend" aria-label="Legend">
      {(["succeeded", "running", "caught", "failed"] as const).map((s) => (
        <li key={s}>
          <span class={`swatch st-${s}`} aria-hidden="true"></span> {s === "caught" ? "failed, caught" : s}
        </li>
      ))}
      <li>
        <span class="swatch st-none" aria-hidden="true"></span> not reached
      </li>
    </ul>
  );
}

interface Edge {
  from: string;
  to: string;
  kind: "next" | "choice" | "catch";
}

function edgesOf(asl: Asl): Edge[] {
  const out: Edge[] = [];
  for (const [name, s] of Object.entries(asl.States)) {
    if (s.Next) out.push({ from: name, to: s.Next, kind: "next" });
    if (s.Default) out.push({ from: name, to: s.Default, kind: "choice" });
    for (const c of s.Choices ?? []) if (c.Next) out.push({ from: name, to: c.Next, kind: "choice" });
    for (const c of s.Catch ?? []) if (c.Next) out.push({ from: name, to: c.Next, kind: "catch" });
  }
  return out.filter((e, i, all) => asl.States[e.to] && all.findIndex((x) => x.from === e.from && x.to === e.to) === i);
}

/** Levels by distance from StartAt (what cannot be reached goes last). */
function layout(asl: Asl): Map<string, { level: number; index: number }> {
  const edges = edgesOf(asl);
  const level = new Map<string, number>([[asl.StartAt, 0]]);
  const queue = [asl.StartAt];
  while (queue.length) {
    const n = queue.shift()!;
    for (const e of edges) {
      if (e.from === n && !level.has(e.to)) {
        level.set(e.to, (level.get(n) ?? 0) + 1);
        queue.push(e.to);
      }
    }
  }
  const deepest = Math.max(0, ...level.values());
  for (const n of Object.keys(asl.States)) if (!level.has(n)) level.set(n, deepest + 1);
  const counts = new Map<number, number>();
  const out = new Map<string, { level: number; index: number }>();
  for (const n of Object.keys(asl.States).sort((a, b) => (level.get(a) ?? 0) - (level.get(b) ?? 0))) {
    const l = level.get(n) ?? 0;
    const i = counts.get(l) ?? 0;
    counts.set(l, i + 1);
    out.set(n, { level: l, index: i });
  }
  return out;
}

const BOX_W = 170;
const BOX_H = 40;
const GAP_X = 30;
const GAP_Y = 46;

export function Graph({ asl, seen, label }: { asl: Asl; seen: Map<string, StateStatus>; label: string }) {
  const pos = layout(asl);
  const widest = Math.max(1, ...[...pos.values()].map((p) => p.index + 1));
  const levels = Math.max(1, ...[...pos.values()].map((p) => p.level + 1));
  const width = widest * (BOX_W + GAP_X) + GAP_X;
  const height = levels * (BOX_H + GAP_Y) + GAP_Y / 2;
  const at = (n: string) => {
    const p = pos.get(n)!;
    return { x: GAP_X + p.index * (BOX_W + GAP_X), y: GAP_Y / 2 + p.level * (BOX_H + GAP_Y) };
  };
  const nested = Object.entries(asl.States).flatMap(([name, s]) => {
    const inner = s.ItemProcessor ?? s.Iterator;
    const branches = s.Branches ?? [];
    return [...(inner ? [{ name: `${name} (each item)`, asl: inner }] : []), ...branches.map((b, i) => ({ name: `${name} (branch ${i + 1})`, asl: b }))];
  });
  return (
    <div class="graph">
      <div class="table-wrap">
        <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`The states of ${label}, coloured by what happened`}>
          <defs>
            <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
              <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" />
            </marker>
          </defs>
          {edgesOf(asl).map((e, i) => {
            const a = at(e.from);
            const b = at(e.to);
            const x1 = a.x + BOX_W / 2;
            const y1 = a.y + BOX_H;
            const x2 = b.x + BOX_W / 2;
            const y2 = b.y;
            // Down a level: a curve from the bottom to the top. Along a level: from one side to
            // the other. Back up (a loop): around the right side.
            const d =
              y2 > y1
                ? `M ${x1} ${y1} C ${x1} ${y1 + 20}, ${x2} ${y2 - 20}, ${x2} ${y2}`
                : b.y === a.y
                  ? b.x > a.x
                    ? `M ${a.x + BOX_W} ${a.y + BOX_H / 2} L ${b.x} ${b.y + BOX_H / 2}`
                    : `M ${a.x} ${a.y + BOX_H / 2} L ${b.x + BOX_W} ${b.y + BOX_H / 2}`
                  : `M ${a.x + BOX_W} ${a.y + BOX_H / 2} C ${a.x + BOX_W + 40} ${a.y}, ${b.x + BOX_W + 40} ${b.y + BOX_H}, ${b.x + BOX_W} ${b.y + BOX_H / 2}`;
            return <path key={i} d={d} class={`edge edge-${e.kind}`} marker-end="url(#arrow)" />;
          })}
          {Object.entries(asl.States).map(([name, s]) => {
            const { x, y } = at(name);
            const st = seen.get(name) ?? "none";
            return (
              <g key={name} class={`state st-${st}`} data-state={name} data-status={st}>
                <title>{`${name} (${s.Type}): ${st === "none" ? "not reached" : st}`}</title>
                <rect x={x} y={y} width={BOX_W} height={BOX_H} rx={6} />
                <text x={x + BOX_W / 2} y={y + 17} text-anchor="middle" class="state-name">
                  {name.length > 22 ? `${name.slice(0, 21)}…` : name}
                </text>
                <text x={x + BOX_W / 2} y={y + 32} text-anchor="middle" class="state-type">
                  {s.Type}
                </text>
              </g>
            );
          })}
        </svg>
      </div>
      {nested.map((n) => (
        <div key={n.name} class="nested">
          <h3>{n.name}</h3>
          <Graph asl={n.asl} seen={seen} label={n.name} />
        </div>
      ))}
    </div>
  );
}
