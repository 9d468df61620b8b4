// Decisions: a filterable list, newest first; and one decision with its explanation, the rules
// that fired, the near misses with the check that stood in the way, actions, outcomes, advice
// and, when its workflow waits for one, the acknowledge button.

import { useState } from "preact/hooks";
import { DecisionSummary, get, post, Problem, query, Session } from "../api";
import { Check, ErrorNote, href, Json, Pager, Panel, Rows, Severity, StoodInTheWay, dateTime, useLoad } from "../ui";

interface DecisionPage {
  decisions: DecisionSummary[];
  next: string | null;
}

export interface Filters {
  subject?: string;
  rule?: string;
  severity?: string;
}

export function DecisionsPage({ filters, go }: { filters: Filters; go: (f: Filters) => void }) {
  const [pages, setPages] = useState<string[]>([]); // cursors of the pages after the first
  const cursor = pages[pages.length - 1];
  const list = useLoad(
    () => get<DecisionPage>(`/v1/decisions${query({ order: "newest", limit: 50, ...filters, cursor })}`),
    [filters.subject, filters.rule, filters.severity, cursor],
  );
  const [draft, setDraft] = useState<Filters>(filters);
  return (
    <div class="stack">
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setPages([]);
          go(draft);
        }}
      >
        <label>
          Subject
          <input value={draft.subject ?? ""} onInput={(e) => setDraft({ ...draft, subject: e.currentTarget.value })} />
        </label>
        <label>
          Rule
          <input value={draft.rule ?? ""} onInput={(e) => setDraft({ ...draft, rule: e.currentTarget.value })} />
        </label>
        <label>
          Severity
          <select value={draft.severity ?? ""} onChange={(e) => setDraft({ ...draft, severity: e.currentTarget.value })}>
            <option value="">any</option>
            <option value="info">info</option>
            <option value="low">low</option>
            <option value="medium">medium</option>
            <option value="high">high</option>
            <option value="critical">critical</option>
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorNote error={list.error} />
      {list.value && list.value.decisions.length === 0 ? <p class="empty">No decision matches.</p> : null}
      {list.value && list.value.decisions.length > 0 ? (
        <Rows
          class="list"
          caption="Decisions, newest first"
          rows={list.value.decisions}
          rowKey={(d) => d.id}
          columns={[
            { label: "Decided", class: "nowrap", cell: (d) => <a href={href("decisions", d.id)}>{dateTime(d.decided_at)}</a> },
            { label: "Severity", cell: (d) => <Severity value={d.severity} /> },
            { label: "Subject", cell: (d) => d.subject ?? "" },
            { label: "Rules", cell: (d) => d.rules.join(", ") },
            { label: "Explanation", cell: (d) => d.explanation },
          ]}
        />
      ) : null}
      <Pager pages={pages} setPages={setPages} next={list.value?.next} />
    </div>
  );
}

interface RuleTrace {
  rule: string;
  outcome: "fired" | "suppressed" | "near_miss";
  because: string;
  checks: Check[];
}

interface DecisionBody {
  id: string;
  event: string;
  decided_at: string;
  ruleset: { name?: string; version?: string | number; hash?: string };
  score: number;
  severity: string;
  fired: { rule: string; score: number; severity: string; explanation: string; priority: number }[];
  actions: { rule: string; workflow: string; params: unknown }[];
  trace: RuleTrace[];
  near_misses_omitted?: number;
  /** The OpenTelemetry trace it was decided in (issue 18). */
  trace_id?: string;
}

interface DecisionAnswer {
  decision: DecisionBody;
  explanation: string;
  outcomes: { execution: string; kind: string; recorded_at: string; outcome: unknown }[];
  advice: { execution: string; recorded_at: string; summary?: string; confidence?: number; method?: string }[];
}

export function DecisionPage({ id, session }: { id: string; session: Session }) {
  const d = useLoad(() => get<DecisionAnswer>(`/v1/decisions/${encodeURIComponent(id)}`), [id]);
  if (d.error) return <ErrorNote error={d.error} />;
  if (!d.value) return <p class="empty">Loading…</p>;
  const { decision, explanation, outcomes, advice } = d.value;
  const nearMisses = decision.trace.filter((t) => t.outcome === "near_miss");
  const suppressed = decision.trace.filter((t) => t.outcome === "suppressed");
  const awaiting = outcomes.some((o) => o.kind === "awaiting_ack");
  const acked = outcomes.some((o) => o.kind === "acknowledged");
  return (
    <div class="stack">
      <section class="headline">
        <Severity value={decision.severity} />
        <h2 class="explanation">{explanation || "No rule fired."}</h2>
        <p class="muted">
          Decided {dateTime(decision.decided_at)} · score {decision.score} · rule set {decision.ruleset?.name}@{String(decision.ruleset?.version ?? "")} · event{" "}
          <code>{decision.event}</code>
          {decision.trace_id ? (
            <>
              {" "}
              · trace <code title="The trace of this event in your tracing backend">{decision.trace_id}</code>
            </>
          ) : null}
        </p>
        {awaiting ? <AckButton id={decision.id} session={session} done={acked} reload={d.reload} /> : null}
      </section>
      <div class="grid">
        <Panel title="Rules that fired" id="h-fired">
          {decision.fired.length === 0 ? (
            <p class="empty">None.</p>
          ) : (
            <ul class="plain">
              {decision.fired.map((f) => (
                <li key={f.rule}>
                  <Severity value={f.severity} /> <strong>{f.rule}</strong> <span class="muted">score {f.score}</span>
                  <div>{f.explanation}</div>
                </li>
              ))}
            </ul>
          )}
        </Panel>
        <Panel title="Near misses" id="h-near">
          {nearMisses.length === 0 ? (
            <p class="empty">None.</p>
          ) : (
            <ul class="plain">
              {nearMisses.map((t) => {
                return (
                  <li key={t.rule}>
                    <strong>{t.rule}</strong>
                    <div class="muted">{t.because}</div>
                    <StoodInTheWay checks={t.checks} />
                  </li>
                );
              })}
            </ul>
          )}
          {decision.near_misses_omitted ? <p class="muted">{decision.near_misses_omitted} more left out.</p> : null}
          {suppressed.length > 0 ? (
            <p class="muted">Suppressed: {suppressed.map((t) => `${t.rule} (${t.because})`).join("; ")}</p>
          ) : null}
        </Panel>
        <Panel title="Actions" id="h-actions">
          {decision.actions.length === 0 ? (
            <p class="empty">None.</p>
          ) : (
            <ul class="plain">
              {decision.actions.map((a, i) => (
                <li key={i}>
                  <strong>{a.workflow}</strong> <span class="muted">from {a.rule}</span>
                  <Json value={a.params} />
                </li>
              ))}
            </ul>
          )}
        </Panel>
        <Panel title="Outcomes" id="h-outcomes">
          {outcomes.length === 0 ? (
            <p class="empty">None recorded yet.</p>
          ) : (
            <ul class="plain">
              {outcomes.map((o, i) => (
                <li key={i}>
                  <strong>{o.kind}</strong> <span class="muted">{dateTime(o.recorded_at)}</span> · execution{" "}
                  <a href={href("executions", o.execution)}>{o.execution}</a>
                  <Json value={o.outcome} />
                </li>
              ))}
            </ul>
          )}
        </Panel>
        {advice.length > 0 ? (
          <Panel title="Advice (advisory, not part of the decision)" id="h-advice">
            <ul class="plain">
              {advice.map((a, i) => (
                <li key={i} class="advisory">
                  <div>{a.summary}</div>
                  <span class="muted">
                    {a.method} · confidence {a.confidence ?? "?"} · {dateTime(a.recorded_at)}
                  </span>
                </li>
              ))}
            </ul>
          </Panel>
        ) : null}
      </div>
    </div>
  );
}

function AckButton({ id, session, done, reload }: { id: string; session: Session; done: boolean; reload: () => void }) {
  const [state, setState] = useState<"idle" | "sending" | "sent">("idle");
  const [error, setError] = useState<unknown>(null);
  const may = session.role === "admin";
  if (done) return <p class="ok">Acknowledged.</p>;
  return (
    <div class="actions">
      <button
        type="button"
        class="primary"
        disabled={!may || state !== "idle"}
        title={may ? "Acknowledge this decision: its escalation stops" : "Your key may not acknowledge: an admin key may"}
        onClick={async () => {
          setState("sending");
          try {
            await post(`/v1/decisions/${encodeURIComponent(id)}/ack`, { by: session.name });
            setState("sent");
            reload();
          } catch (e) {
            setError(e);
            setState("idle");
          }
        }}
      >
        {state === "sent" ? "Acknowledged" : "Acknowledge"}
      </button>
      {!may ? <span class="muted"> Your {session.role} key may not acknowledge; an admin key may.</span> : null}
      {error instanceof Problem ? <ErrorNote error={error} /> : null}
    </div>
  );
}
