// Rules: the loaded rule set (name, version, hash), each rule and expectation, the source of
// each file, and a try-it box: paste an event, see the decision and its trace.

import { useState } from "preact/hooks";
import { get, post, Problem } from "../api";
import { Check, ErrorNote, Panel, Rows, Severity, StoodInTheWay, useLoad } from "../ui";

export interface RuleSetAnswer {
  name: string;
  version: string;
  description?: string | null;
  hash: string;
  rules: { id: string; description: string; priority: number; file: string; severity?: string | null; workflows: string[] }[];
  expectations: { id: string; description: string; file: string }[];
  files: { path: string; text: string }[];
}

interface TryAnswer {
  explanation: string;
  decision: {
    severity: string;
    score: number;
    fired: { rule: string; explanation: string; severity: string }[];
    actions: { rule: string; workflow: string }[];
    trace: { rule: string; outcome: string; because: string; checks: Check[] }[];
  };
}

const EXAMPLE = JSON.stringify(
  {
    id: "try-1",
    source: "aws.cloudwatch",
    type: "CloudWatch Alarm State Change",
    subject: "api-5xx",
    time: new Date().toISOString(),
    data: { alarmName: "api-5xx", state: { value: "ALARM", reason: "5xx above 1%" } },
  },
  null,
  2,
);

export function RulesPage() {
  const set = useLoad(() => get<RuleSetAnswer>("/v1/rules"), []);
  if (set.error) return <ErrorNote error={set.error} />;
  if (!set.value) return <p class="empty">Loading…</p>;
  const s = set.value;
  return (
    <div class="stack">
      <section class="headline">
        <h2 class="explanation">
          {s.name}@{s.version}
        </h2>
        {s.description ? <p>{s.description}</p> : null}
        <p class="muted">
          <code>{s.hash}</code> · {s.rules.length} rules · {s.expectations.length} expectations · {s.files.length} files
        </p>
      </section>
      <Panel title="Try an event" id="h-try" wide>
        <TryIt />
      </Panel>
      <Panel title="Rules, in evaluation order" id="h-rules" wide>
        <Rows
          class="list"
          rows={s.rules}
          rowKey={(r) => r.id}
          columns={[
            { label: "Rule", cell: (r) => <code>{r.id}</code> },
            { label: "Priority", cell: (r) => r.priority },
            { label: "Severity", cell: (r) => (r.severity ? <Severity value={r.severity} /> : <span class="muted">by score</span>) },
            { label: "Workflows", cell: (r) => r.workflows.join(", ") },
            { label: "Description", cell: (r) => r.description },
            { label: "File", cell: (r) => r.file },
          ]}
        />
      </Panel>
      <Panel title="Expectations" id="h-expectations" wide>
        <ul class="plain">
          {s.expectations.map((e) => (
            <li key={e.id}>
              <code>{e.id}</code> — {e.description} <span class="muted">({e.file})</span>
            </li>
          ))}
        </ul>
      </Panel>
      <Panel title="Source" id="h-source" wide>
        {s.files.map((f) => (
          <details key={f.path}>
            <summary>{f.path}</summary>
            <pre class="json" tabIndex={0}>
              {f.text}
            </pre>
          </details>
        ))}
      </Panel>
    </div>
  );
}

function TryIt() {
  const [text, setText] = useState(EXAMPLE);
  const [answer, setAnswer] = useState<TryAnswer | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="try"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        let event: unknown;
        try {
          event = JSON.parse(text);
        } catch (err) {
          setError(new Problem(400, "", "That is not JSON", String(err)));
          return;
        }
        setBusy(true);
        try {
          setAnswer(await post<TryAnswer>("/v1/rules/try", event));
        } catch (err) {
          setAnswer(null);
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      <label for="try-event">An event in the native envelope (nothing is stored or sent)</label>
      <textarea id="try-event" rows={12} spellcheck={false} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      <div>
        <button type="submit" class="primary" disabled={busy}>
          Decide
        </button>
      </div>
      <ErrorNote error={error} />
      {answer ? <TryResult answer={answer} /> : null}
    </form>
  );
}

function TryResult({ answer }: { answer: TryAnswer }) {
  const d = answer.decision;
  const near = d.trace.filter((t) => t.outcome === "near_miss");
  return (
    <div class="try-result" aria-live="polite">
      <p>
        <Severity value={d.severity} /> <strong class="try-explanation">{answer.explanation || "No rule fired."}</strong> <span class="muted">score {d.score}</span>
      </p>
      {d.fired.length > 0 ? (
        <>
          <h3>Fired</h3>
          <ul class="plain">
            {d.fired.map((f) => (
              <li key={f.rule}>
                <code>{f.rule}</code> — {f.explanation}
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {d.actions.length > 0 ? <p class="muted">Would start: {d.actions.map((a) => `${a.workflow} (${a.rule})`).join(", ")}</p> : null}
      {near.length > 0 ? (
        <>
          <h3>Near misses</h3>
          <ul class="plain">
            {near.map((t) => (
              <li key={t.rule}>
                <code>{t.rule}</code> <span class="muted">{t.because}</span>
                <StoodInTheWay checks={t.checks} />
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </div>
  );
}
