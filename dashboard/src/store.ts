// What the live connection has brought, kept for every page: the newest events and
// decisions, counts per source family, arrivals per 10 s, the health. Listeners are told at
// most every RENDER_EVERY_MS (on an animation frame), however many batches came in between,
// so that 1,000 events/s cost ten renders a second, not one per event or per batch.

import { DecisionSummary, EventSummary } from "./api";
import { Batch, Health, Listener, Live, LinkState } from "./live";

export const FAMILIES = ["github", "ci", "aws", "gcp", "azure", "cloudevents", "native"] as const;
export const FAMILY_NAMES: Record<string, string> = {
  github: "GitHub",
  ci: "CI",
  aws: "AWS",
  gcp: "GCP",
  azure: "Azure",
  cloudevents: "CloudEvents",
  native: "Native",
};

// The feed is for watching, not for reading back (the Decisions and Timeline pages are): 60 rows
// fill a tall screen, and each render at 1,000 events/s lays out and paints fewer than 80 did.
const FEED = 60;
const RENDER_EVERY_MS = 100;
/** The status of an event decided with no rule firing. */
export const NO_RULE = "no rule fired";
const DECISIONS = 50;
export const RATE_BUCKET_MS = 10_000;
export const RATE_BUCKETS = 30; // five minutes

export interface LiveState {
  link: LinkState;
  events: EventSummary[]; // newest first
  decisions: DecisionSummary[]; // newest first
  /** The severity of the newest decision of an event (or NO_RULE), by event id. */
  decided: Map<string, string>;
  families: Record<string, number>;
  /** Arrivals per RATE_BUCKET_MS, by bucket start (ms). */
  rate: Map<number, number>;
  health: Health | null;
  /** Events seen since the page opened (the first batch included). */
  seen: number;
  since: number;
}

export class LiveStore implements Listener {
  state: LiveState = {
    link: { kind: "connecting" },
    events: [],
    decisions: [],
    decided: new Map(),
    families: Object.fromEntries(FAMILIES.map((f) => [f, 0])),
    rate: new Map(),
    health: null,
    seen: 0,
    since: Date.now(),
  };
  private listeners = new Set<() => void>();
  private frame = 0;
  private lastRender = 0;
  private live: Live | null = null;

  constructor(private readonly onUnauthenticated: () => void) {}

  start(): void {
    this.live ??= new Live(this);
    this.live.start();
  }

  stop(): void {
    this.live?.stop();
    this.live = null;
  }

  subscribe(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  batch(b: Batch): void {
    const s = this.state;
    for (const e of b.events) {
      s.families[e.family] = (s.families[e.family] ?? 0) + 1;
      const at = Date.parse(e.received_at);
      if (!Number.isNaN(at)) {
        const bucket = Math.floor(at / RATE_BUCKET_MS) * RATE_BUCKET_MS;
        s.rate.set(bucket, (s.rate.get(bucket) ?? 0) + 1);
      }
    }
    s.seen += b.events.length;
    const events = b.events.slice(-FEED).reverse();
    s.events = events.concat(s.events).slice(0, FEED);
    for (const d of b.decisions) {
      s.decided.set(d.event, d.rules.length > 0 && d.severity ? d.severity : NO_RULE);
    }
    // Only the decisions in which some rule fired are worth a line.
    const decisions = b.decisions
      .filter((d) => d.rules.length > 0)
      .slice(-DECISIONS)
      .reverse();
    s.decisions = decisions.concat(s.decisions).slice(0, DECISIONS);
    // Forget what no longer shows.
    if (s.decided.size > 4 * FEED) {
      const keep = new Set(s.events.map((e) => e.id));
      for (const id of s.decided.keys()) if (!keep.has(id)) s.decided.delete(id);
    }
    const oldest = Math.floor(Date.now() / RATE_BUCKET_MS) * RATE_BUCKET_MS - RATE_BUCKETS * RATE_BUCKET_MS;
    for (const k of s.rate.keys()) if (k < oldest) s.rate.delete(k);
    this.changed();
  }

  health(h: Health): void {
    this.state.health = h;
    this.changed();
  }

  link(l: LinkState): void {
    this.state.link = l;
    this.changed();
  }

  unauthenticated(): void {
    this.onUnauthenticated();
  }

  private changed(): void {
    if (this.frame) return;
    const flush = () => {
      this.frame = 0;
      this.lastRender = performance.now();
      this.state = { ...this.state };
      for (const f of this.listeners) f();
    };
    const wait = Math.max(0, this.lastRender + RENDER_EVERY_MS - performance.now());
    // On the next frame once RENDER_EVERY_MS has passed since the last render; a hidden tab
    // gets no animation frames, so a timer alone there.
    this.frame = setTimeout(() => {
      if (document.visibilityState === "hidden") flush();
      else requestAnimationFrame(flush);
    }, wait) as unknown as number;
  }
}
