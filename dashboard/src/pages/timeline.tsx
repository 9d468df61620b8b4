// Timeline of one subject, with a scrubber: what was known about it at any moment.

import { useState } from "preact/hooks";
import { get, query } from "../api";
import { ErrorNote, href, Severity, dateTime, useLoad } from "../ui";

interface Item {
  at: string;
  kind: string;
  id?: string;
  source?: string;
  type?: string;
  rules?: string[];
  severity?: string;
  explanation?: string;
  decision?: string;
  execution?: string;
  // A wait an expectation opened (replayed with the loaded rule set).
  expectation?: string;
  expectation_kind?: string;
  key?: string;
  event?: string;
  deadline?: string;
  met_at?: string | null;
}

/** What became of a wait, as of `asOf` (never what came after it). */
function waitState(i: Item, asOf: string | null): "waiting" | "met" | "missed" {
  const now = asOf ? Date.parse(asOf) : Date.now();
  if (i.met_at && Date.parse(i.met_at) <= now) return "met";
  if (i.deadline && Date.parse(i.deadline) <= now) return "missed";
  return "waiting";
}

interface Timeline {
  subject: string;
  items: Item[];
  truncated: boolean;
}

export function TimelinePage({ subject, go }: { subject: string; go: (s: string) => void }) {
  const [draft, setDraft] = useState(subject);
  const t = useLoad(
    () => (subject ? get<Timeline>(`/v1/timeline${query({ subject, limit: 1000 })}`) : Promise.resolve(null)),
    [subject],
  );
  const [at, setAt] = useState<number | null>(null);
  const items = t.value?.items ?? [];
  const upto = at === null ? items.length - 1 : Math.min(at, items.length - 1);
  const known = items.slice(0, upto + 1);
  const asOf = known.length > 0 ? known[known.length - 1].at : null;
  // The waits opened by then (with the event that opened them, at the same instant).
  const asOfMs = asOf ? Date.parse(asOf) : Date.now();
  const waiting = items.filter(
    (i) => i.kind === "expectation" && Date.parse(i.at) <= asOfMs && waitState(i, asOf) === "waiting",
  );
  return (
    <div class="stack">
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setAt(null);
          go(draft);
        }}
      >
        <label>
          Subject
          <input value={draft} onInput={(e) => setDraft(e.currentTarget.value)} placeholder="acme/web" />
        </label>
        <button type="submit">Show</button>
      </form>
      <ErrorNote error={t.error} />
      {subject && t.value && items.length === 0 ? <p class="empty">Nothing is known about {subject}.</p> : null}
      {items.length > 0 ? (
        <>
          <label class="scrubber">
            <span>
              As of <strong>{dateTime(asOf)}</strong> ({known.length} of {items.length} known)
            </span>
            <input
              type="range"
              min={0}
              max={items.length - 1}
              value={upto}
              onInput={(e) => setAt(Number(e.currentTarget.value))}
              aria-label="Move through time"
            />
          </label>
          <section class="panel wide" aria-labelledby="h-waiting">
            <h2 id="h-waiting">Open expectations as of then</h2>
            {waiting.length === 0 ? (
              <p class="empty">Nothing was expected of {subject} then.</p>
            ) : (
              <ul class="plain waiting">
                {waiting.map((w, n) => (
                  <li key={n}>
                    <code>{w.expectation}</code> {w.expectation_kind} on <strong>{w.key}</strong>{" "}
                    <span class="muted">due {dateTime(w.deadline)}</span>
                  </li>
                ))}
              </ul>
            )}
          </section>
          <ol class="timeline">
            {known
              .slice()
              .reverse()
              .map((i, n) => (
                <li key={n} class={`tl-${i.kind === "event" || i.kind === "decision" || i.kind === "expectation" ? i.kind : "outcome"}`}>
                  <span class="muted nowrap">{dateTime(i.at)}</span>{" "}
                  {i.kind === "event" ? (
                    <span>
                      event <strong>{i.type}</strong> from {i.source}
                    </span>
                  ) : i.kind === "expectation" ? (
                    <span>
                      expects <code>{i.expectation}</code> ({i.expectation_kind}, {i.key}) by {dateTime(i.deadline)}:{" "}
                      <strong>{waitState(i, asOf)}</strong>
                    </span>
                  ) : i.kind === "decision" ? (
                    <span>
                      <Severity value={i.severity} /> <a href={href("decisions", i.id ?? "")}>{i.explanation || (i.rules ?? []).join(", ") || "No rule fired"}</a>
                    </span>
                  ) : (
                    <span>
                      {i.kind} of <a href={href("decisions", i.decision ?? "")}>a decision</a> ({i.execution})
                    </span>
                  )}
                </li>
              ))}
          </ol>
          {t.value?.truncated ? <p class="muted">Only the first 1,000 of each are shown.</p> : null}
        </>
      ) : null}
    </div>
  );
}
