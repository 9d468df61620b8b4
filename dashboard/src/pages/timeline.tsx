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
          <ol class="timeline">
            {known
              .slice()
              .reverse()
              .map((i, n) => (
                <li key={n} class={`tl-${i.kind === "event" || i.kind === "decision" ? i.kind : "outcome"}`}>
                  <span class="muted nowrap">{dateTime(i.at)}</span>{" "}
                  {i.kind === "event" ? (
                    <span>
                      event <strong>{i.type}</strong> from {i.source}
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
