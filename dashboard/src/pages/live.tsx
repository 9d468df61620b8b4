// Live: events as they arrive, counts per source family, the rate over the last five minutes,
// refused requests by problem type, and the deployment's health.

import { useEffect, useState } from "preact/hooks";
import { FAMILIES, FAMILY_NAMES, LiveState, NO_RULE, RATE_BUCKETS, RATE_BUCKET_MS } from "../store";
import { Component } from "preact";
import { EventSummary } from "../api";
import { href, Panel, Severity, time } from "../ui";

export function LivePage({ live }: { live: LiveState }) {
  return (
    <div class="grid">
      <Panel title="Sources" id="h-families">
        <ul class="families">
          {FAMILIES.map((f) => (
            <li key={f} class={`family fam-${f}`}>
              <span class="fam-name">{FAMILY_NAMES[f]}</span>
              <span class="fam-count" data-family={f}>
                {live.families[f] ?? 0}
              </span>
            </li>
          ))}
        </ul>
        <p class="hint">Events seen by this page since {time(new Date(live.since).toISOString())}, the newest 50 before it included.</p>
      </Panel>
      <Panel title="Arrivals, last 5 minutes" id="h-rate">
        <Rate rate={live.rate} />
      </Panel>
      <Panel title="Health" id="h-health">
        <HealthView live={live} />
      </Panel>
      <Panel title="Events" id="h-events" wide>
        <Feed live={live} />
      </Panel>
      <Panel title="Decisions" id="h-decisions" wide>
        {live.decisions.length === 0 ? (
          <p class="empty">No rule has fired yet.</p>
        ) : (
          <ul class="decisions-feed">
            {live.decisions.slice(0, 12).map((d, i) => (
              <li key={i}>
                <Severity value={d.severity} /> <a href={href("decisions", d.id)}>{d.explanation || d.rules.join(", ") || "No rule fired"}</a>
                <span class="muted"> {d.subject ?? ""} · {time(d.decided_at)}</span>
              </li>
            ))}
          </ul>
        )}
      </Panel>
    </div>
  );
}

function Feed({ live }: { live: LiveState }) {
  if (live.events.length === 0) return <p class="empty">No event yet. Send one: POST /v1/events.</p>;
  // Not `Rows`: at a thousand events a second every row is new at every render. The rows are
  // kept by position, not by event: a render rewrites the text of the rows that are there
  // instead of creating new ones and removing the old (at 1,000 events/s that was 80 rows
  // made and 80 dropped ten times a second, and frames of 130 ms). Each row is still
  // memoised on its event and its status, so a quiet feed redoes only the rows that moved.
  return (
    <div class="table-wrap feed-wrap">
      <table class="feed cards">
        <thead>
          <tr>
            {FEED_COLUMNS.map((c) => (
              <th scope="col" key={c}>
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {live.events.map((e, i) => (
            <FeedRow key={i} e={e} status={live.decided.get(e.id)} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

const FEED_COLUMNS = ["Received", "Source", "Type", "Subject", "Status"];

/** One row of the feed, drawn again only when its event or its status changes. */
class FeedRow extends Component<{ e: EventSummary; status: string | undefined }> {
  shouldComponentUpdate(next: { e: EventSummary; status: string | undefined }): boolean {
    return next.e !== this.props.e || next.status !== this.props.status;
  }

  render() {
    const { e, status } = this.props;
    return (
      <tr data-event={e.id}>
        <td class="nowrap" data-label="Received">
          {time(e.received_at)}
        </td>
        <td data-label="Source">
          <span class={`dot fam-${e.family}`} aria-hidden="true"></span>
          {e.source}
        </td>
        <td data-label="Type">{e.type}</td>
        <td data-label="Subject">{e.subject ? <a href={href("timeline", e.subject)}>{e.subject}</a> : <span class="muted">—</span>}</td>
        <td data-label="Status">
          {status === NO_RULE ? <span class="status">{NO_RULE}</span> : status ? <Severity value={status} /> : <span class="status">accepted</span>}
        </td>
      </tr>
    );
  }
}

function Rate({ rate }: { rate: Map<number, number> }) {
  // Re-drawn every bucket so that the bars move on while nothing arrives.
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), RATE_BUCKET_MS);
    return () => clearInterval(t);
  }, []);
  const last = Math.floor(now / RATE_BUCKET_MS) * RATE_BUCKET_MS;
  const counts: number[] = [];
  for (let i = RATE_BUCKETS - 1; i >= 0; i--) counts.push(rate.get(last - i * RATE_BUCKET_MS) ?? 0);
  const max = Math.max(1, ...counts);
  const perSecond = (counts[counts.length - 1] + counts[counts.length - 2]) / ((now - last + RATE_BUCKET_MS) / 1000);
  const w = 300;
  const h = 80;
  const bw = w / RATE_BUCKETS;
  return (
    <div>
      <p class="big">
        {perSecond.toFixed(1)} <span class="unit">events/s</span>
      </p>
      <svg class="rate" viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`Events per 10 seconds over the last 5 minutes, at most ${max}`}>
        {counts.map((c, i) => (
          <rect key={i} x={i * bw + 1} width={bw - 2} y={h - (c / max) * h} height={(c / max) * h}></rect>
        ))}
      </svg>
    </div>
  );
}

function HealthView({ live }: { live: LiveState }) {
  const h = live.health;
  if (!h) return <p class="empty">Waiting for the first health report…</p>;
  if (h.status !== "ok") return <p class="error">Unavailable: {h.detail}</p>;
  const queues = Object.entries(h.backlog?.queues ?? {});
  const refused = Object.entries(h.refused ?? {}).sort((a, b) => b[1] - a[1]);
  const executions = Object.entries(h.executions ?? {});
  return (
    <div class="health">
      <table class="compact">
        <caption>Queues</caption>
        <thead>
          <tr>
            <th scope="col">Queue</th>
            <th scope="col">Waiting</th>
            <th scope="col">In flight</th>
          </tr>
        </thead>
        <tbody>
          {queues.map(([name, q]) => (
            <tr key={name} class={name.endsWith("-dlq") && q.visible > 0 ? "alarm" : ""}>
              <td>{name}</td>
              <td>{q.visible}</td>
              <td>{q.in_flight}</td>
            </tr>
          ))}
          <tr>
            <td>outbox</td>
            <td>{h.backlog?.outbox ?? 0}</td>
            <td></td>
          </tr>
        </tbody>
      </table>
      <dl class="pairs">
        {executions.map(([k, v]) => (
          <div key={k}>
            <dt>executions {k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
        {h.expectations ? (
          <div>
            <dt>open expectations</dt>
            <dd>{h.expectations.open}</dd>
          </div>
        ) : null}
        {h.breakers ? (
          <div class={h.breakers.open > 0 ? "alarm" : ""}>
            <dt>open circuit breakers</dt>
            <dd title={h.breakers.channels.join(", ")}>
              {h.breakers.open}
              {h.breakers.open > 0 ? ` (${h.breakers.channels.join(", ")})` : ""}
            </dd>
          </div>
        ) : null}
      </dl>
      <h3>Refused requests</h3>
      {h.refused === undefined ? (
        // In AWS each function counts them in CloudWatch: the metric Refused of the Helios
        // namespace, by ProblemType (on the deployment's CloudWatch dashboard).
        <p class="muted">Counted in CloudWatch: the metric Refused (namespace Helios), by ProblemType.</p>
      ) : refused.length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <dl class="pairs">
          {refused.map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      )}
    </div>
  );
}
