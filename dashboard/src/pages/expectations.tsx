// Expectations and reconciliation: the open expectations with their deadlines (the running
// executions of the `expectation` workflow), the missed ones, the mismatched reconciliations
// with each source's values side by side, and a replay of a time range. And Dead letters:
// each queue's depth and samples, with a redrive button.

import { useState } from "preact/hooks";
import { get, post, Problem, query, Session } from "../api";
import { ErrorNote, href, Json, Panel, Rows, dateTime, useLoad } from "../ui";

interface Open {
  name: string;
  expectation: string;
  kind: string;
  key: string;
  subject?: string;
  deadline?: string;
}

interface EventPage {
  events: { helios_id: string; subject?: string; time: string; data: Record<string, unknown> }[];
}

/** The open expectations: the running `expectation` executions, read one by one (at most 50). */
async function openExpectations(): Promise<Open[]> {
  const list = await get<{ executions: { name: string }[] }>(`/v1/executions${query({ machine: "expectation", status: "RUNNING", limit: 50 })}`);
  const described = await Promise.all(
    list.executions.map((e) =>
      get<{ name: string; input?: Record<string, unknown> }>(`/v1/executions/${encodeURIComponent(e.name)}`).catch(() => null),
    ),
  );
  return described
    .filter((d): d is { name: string; input?: Record<string, unknown> } => d !== null)
    .map((d) => {
      const i = d.input ?? {};
      const text = (k: string) => (typeof i[k] === "string" ? (i[k] as string) : undefined);
      return {
        name: d.name,
        expectation: text("expectation") ?? "?",
        kind: text("kind") ?? "",
        key: text("key") ?? "",
        subject: text("subject"),
        deadline: text("deadline"),
      };
    })
    .sort((a, b) => (a.deadline ?? "").localeCompare(b.deadline ?? ""));
}

export function ExpectationsPage({ session }: { session: Session }) {
  const open = useLoad(openExpectations, []);
  const missed = useLoad(() => get<EventPage>(`/v1/events${query({ type: "helios.expectation.missed", order: "newest", limit: 50 })}`), []);
  const mismatched = useLoad(() => get<EventPage>(`/v1/events${query({ type: "helios.reconcile.mismatched", order: "newest", limit: 50 })}`), []);
  return (
    <div class="stack">
      <div class="grid">
        <Panel title="Open expectations" id="h-open" wide>
          <ErrorNote error={open.error} />
          {open.value && open.value.length === 0 ? <p class="empty">None open.</p> : null}
          {open.value && open.value.length > 0 ? (
            <Rows
              class="list open-expectations"
              rows={open.value}
              rowKey={(o) => o.name}
              columns={[
                { label: "Expectation", cell: (o) => <code>{o.expectation}</code> },
                { label: "Kind", cell: (o) => o.kind },
                { label: "Key", cell: (o) => o.key },
                { label: "Deadline", class: "nowrap", cell: (o) => dateTime(o.deadline) },
                { label: "Execution", cell: (o) => <a href={href("executions", o.name)}>watching</a> },
              ]}
            />
          ) : null}
        </Panel>
        <Panel title="Missed" id="h-missed" wide>
          <ErrorNote error={missed.error} />
          {missed.value && missed.value.events.length === 0 ? <p class="empty">Nothing missed.</p> : null}
          <ul class="plain">
            {(missed.value?.events ?? []).map((e) => (
              <li key={e.helios_id}>
                <code>{String(e.data.expectation ?? "")}</code> <strong>{e.subject ?? String(e.data.key ?? "")}</strong>{" "}
                <span class="muted">
                  deadline {dateTime(String(e.data.deadline ?? ""))}
                  {e.data.last_seen ? ` · last seen ${dateTime(String(e.data.last_seen))}` : ""}
                </span>
              </li>
            ))}
          </ul>
        </Panel>
        <Panel title="Mismatched reconciliations" id="h-mismatched" wide>
          <ErrorNote error={mismatched.error} />
          {mismatched.value && mismatched.value.events.length === 0 ? <p class="empty">No mismatch.</p> : null}
          {(mismatched.value?.events ?? []).map((e) => (
            <Mismatch key={e.helios_id} data={e.data} subject={e.subject} />
          ))}
        </Panel>
        <Panel title="Replay" id="h-replay" wide>
          <Replay session={session} />
        </Panel>
      </div>
    </div>
  );
}

function Mismatch({ data, subject }: { data: Record<string, unknown>; subject?: string }) {
  const reports = (data.reports ?? {}) as Record<string, Record<string, unknown>>;
  const sources = Object.keys(reports);
  const mismatched = (data.mismatched ?? []) as { field: string; values: Record<string, unknown> }[];
  const missing = (data.missing ?? []) as string[];
  return (
    <div class="mismatch">
      <p>
        <code>{String(data.expectation ?? "")}</code> <strong>{subject ?? String(data.key ?? "")}</strong>
        {missing.length > 0 ? <span class="muted"> · no report from {missing.join(", ")}</span> : null}
      </p>
      <div class="table-wrap">
        <table class="compact side-by-side">
          <thead>
            <tr>
              <th scope="col">Field</th>
              {sources.map((s) => (
                <th scope="col" key={s}>
                  {s}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {mismatched.map((m) => (
              <tr key={m.field} class="alarm">
                <th scope="row">{m.field}</th>
                {sources.map((s) => (
                  <td key={s}>{JSON.stringify(m.values?.[s] ?? null)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function Replay({ session }: { session: Session }) {
  const now = new Date();
  const local = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  const [since, setSince] = useState(local(new Date(now.getTime() - 3600_000)));
  // The inputs hold whole minutes: until the next one, so that what came this minute is in.
  const [until, setUntil] = useState(local(new Date(now.getTime() + 60_000)));
  const [redecide, setRedecide] = useState(false);
  const [result, setResult] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const may = session.role === "admin";
  return (
    <form
      class="filters"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        setResult(null);
        try {
          const r = await post<{ replayed: number }>("/v1/replay", {
            since: new Date(since).toISOString(),
            until: new Date(until).toISOString(),
            redecide,
          });
          setResult(`${r.replayed} events published again${redecide ? ", to be decided again" : ""}.`);
        } catch (err) {
          setError(err instanceof Problem ? err : new Problem(0, "", "The replay failed", String(err)));
        }
      }}
    >
      <label>
        From (event time)
        <input type="datetime-local" value={since} onInput={(e) => setSince(e.currentTarget.value)} required />
      </label>
      <label>
        Until
        <input type="datetime-local" value={until} onInput={(e) => setUntil(e.currentTarget.value)} required />
      </label>
      <label class="inline">
        <input type="checkbox" checked={redecide} onChange={(e) => setRedecide(e.currentTarget.checked)} /> decide again with the current rules
      </label>
      <button type="submit" class="primary" disabled={!may} title={may ? "Publish these facts again" : "Your key may not replay: an admin key may"}>
        Replay
      </button>
      {!may ? <span class="muted">Your {session.role} key may not replay; an admin key may.</span> : null}
      {result ? (
        <p class="ok" role="status">
          {result}
        </p>
      ) : null}
      <ErrorNote error={error} />
    </form>
  );
}

interface DeadLetterQueue {
  queue: string;
  dead_letter_queue: string;
  visible: number;
  in_flight: number;
  samples: { message_id: string; body: unknown; attributes: Record<string, string>; receive_count: number }[];
}

export function DeadLettersPage({ session }: { session: Session }) {
  const q = useLoad(() => get<{ queues: DeadLetterQueue[] }>("/v1/dead-letters"), []);
  const [moved, setMoved] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const may = session.role === "admin";
  if (q.error) return <ErrorNote error={q.error} />;
  if (!q.value) return <p class="empty">Loading…</p>;
  return (
    <div class="grid">
      {q.value.queues.map((x) => (
        <Panel key={x.queue} title={x.dead_letter_queue} id={`h-dlq-${x.queue}`} wide>
          <p>
            <strong class="big dlq-depth">{x.visible}</strong> dead letters <span class="muted">({x.in_flight} being looked at)</span> of the <code>{x.queue}</code> queue
          </p>
          <div class="actions">
            <button
              type="button"
              class="primary"
              disabled={!may || x.visible + x.in_flight === 0}
              title={may ? `Move them back to ${x.queue}` : "Your key may not redrive: an admin key may"}
              onClick={async () => {
                setError(null);
                try {
                  const r = await post<{ moved?: number; task_handle?: string }>(
                    `/v1/dead-letters/${encodeURIComponent(x.queue)}/redrive`,
                  );
                  // helios dev moves them at once; SQS starts a move task and moves them as it goes.
                  const said =
                    r.moved !== undefined
                      ? `${r.moved} moved back to ${x.queue}.`
                      : `SQS is moving them back to ${x.queue}; reload to see the depths fall.`;
                  setMoved({ ...moved, [x.queue]: said });
                  q.reload();
                } catch (err) {
                  setError(err);
                }
              }}
            >
              Redrive to {x.queue}
            </button>
            {!may ? <span class="muted"> Your {session.role} key may not redrive; an admin key may.</span> : null}
            {moved[x.queue] ? (
              <p class="ok" role="status">
                {moved[x.queue]}
              </p>
            ) : null}
          </div>
          {x.samples.map((m) => (
            <details key={m.message_id}>
              <summary>
                {m.message_id} · received {m.receive_count} times
              </summary>
              <Json value={m.body} />
            </details>
          ))}
        </Panel>
      ))}
      <ErrorNote error={error} />
    </div>
  );
}
