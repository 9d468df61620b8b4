// The live connection: `GET /v1/stream` (server-sent events) read through fetch, so that the
// key goes in a header and never in a URL (EventSource cannot send one), resumed with
// `Last-Event-ID`; or, where `config.json` names one (AWS), a WebSocket carrying the same
// batches, the key offered as its second subprotocol. Either reconnects with backoff and
// says what state it is in.

import { apiUrl, authHeaders, DecisionSummary, EventSummary, get, socketUrl, storedKey } from "./api";

/** The WebSocket feed's subprotocol; the key goes after it. */
const PROTOCOL = "helios.v1";

export interface Batch {
  events: EventSummary[];
  decisions: DecisionSummary[];
}

export interface Health {
  status: string;
  executions?: Record<string, number>;
  backlog?: {
    outbox: number;
    queues: Record<string, { visible: number; in_flight: number }>;
  };
  refused?: Record<string, number>;
  expectations?: { open: number };
  breakers?: { open: number; channels: string[] };
  detail?: string;
}

export type LinkState =
  | { kind: "connecting" }
  | { kind: "live" }
  | { kind: "down"; retryAt: number; why: string };

export interface Listener {
  batch(b: Batch): void;
  health(h: Health): void;
  link(s: LinkState): void;
  unauthenticated(): void;
}

const MAX_BACKOFF_MS = 30_000;
/** How often the health is asked for when the feed is a WebSocket (which carries events and
 * decisions only): `GET /v1/health`, the `ops` function in AWS. */
const HEALTH_POLL_MS = 10_000;

export class Live {
  private lastId: string | null = null;
  private stopped = false;
  private abort: AbortController | null = null;

  constructor(private readonly listener: Listener) {}

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.socket?.close(1000);
    if (this.healthTimer !== null) clearTimeout(this.healthTimer);
  }

  private healthTimer: ReturnType<typeof setTimeout> | null = null;

  /** Asks for the health now and every HEALTH_POLL_MS while the feed runs; a failure is
   * shown as the health's, and the next poll tries again. */
  private async pollHealth(): Promise<void> {
    if (this.stopped) return;
    try {
      this.listener.health(await get<Health>("/v1/health"));
    } catch (e) {
      const detail = e instanceof Error ? e.message : String(e);
      this.listener.health({ status: "unavailable", detail });
    }
    if (!this.stopped) this.healthTimer = setTimeout(() => void this.pollHealth(), HEALTH_POLL_MS);
  }

  private async runSocket(url: string): Promise<void> {
    let attempt = 0;
    void this.pollHealth();
    while (!this.stopped) {
      this.listener.link({ kind: "connecting" });
      const key = storedKey();
      // A refused handshake tells the page no status: ask the API whether the key is good.
      try {
        await get("/v1/session");
      } catch {
        // A 401 has sent the page to sign-in; anything else is retried below.
      }
      if (this.stopped || !storedKey()) return;
      const why = await new Promise<string>((done) => {
        let ws: WebSocket;
        try {
          ws = new WebSocket(url, [PROTOCOL, key ?? ""]);
        } catch (e) {
          done(e instanceof Error ? e.message : String(e));
          return;
        }
        this.socket = ws;
        ws.onopen = () => {
          attempt = 0;
          this.listener.link({ kind: "live" });
          ws.send(JSON.stringify({ action: "newest" }));
        };
        ws.onmessage = (m) => this.onSocketMessage(m.data);
        ws.onclose = (e) => done(`the socket closed (${e.code})`);
      });
      this.socket = null;
      if (this.stopped) return;
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt) * (0.75 + Math.random() / 2);
      attempt = Math.min(attempt + 1, 10);
      this.listener.link({ kind: "down", retryAt: Date.now() + delay, why });
      await new Promise((done) => setTimeout(done, delay));
    }
  }

  private onSocketMessage(data: unknown): void {
    if (typeof data !== "string") return;
    let m: { type?: string; data?: Batch };
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    if (m.type !== "batch" || !m.data) return;
    const events = (m.data.events ?? []).filter((e) => e.seq > this.seen.fact);
    const decisions = (m.data.decisions ?? []).filter((d) => (d.seq ?? 0) > this.seen.decision);
    for (const e of events) this.seen.fact = Math.max(this.seen.fact, e.seq);
    for (const d of decisions) this.seen.decision = Math.max(this.seen.decision, d.seq ?? 0);
    if (events.length || decisions.length) this.listener.batch({ events, decisions });
  }

  private socket: WebSocket | null = null;
  /** The highest fact and decision seq passed on, over a socket: batches overlap there (the
   * newest, asked for on opening, and the pushed ones), and nothing goes on twice. */
  private seen = { fact: 0, decision: 0 };

  private async run(): Promise<void> {
    const url = socketUrl();
    if (url) return this.runSocket(url);
    let attempt = 0;
    while (!this.stopped) {
      this.listener.link({ kind: "connecting" });
      let why = "the connection closed";
      try {
        this.abort = new AbortController();
        const headers: Record<string, string> = { ...authHeaders(), accept: "text/event-stream" };
        if (this.lastId) headers["last-event-id"] = this.lastId;
        const r = await fetch(apiUrl("/v1/stream"), {
          headers,
          cache: "no-store",
          signal: this.abort.signal,
        });
        if (r.status === 401) {
          this.listener.unauthenticated();
          return;
        }
        if (!r.ok || !r.body) {
          why = `the stream answered ${r.status}`;
          if (r.status === 400) this.lastId = null; // an id it does not know: start afresh
        } else {
          this.listener.link({ kind: "live" });
          attempt = 0;
          await this.read(r.body);
        }
      } catch (e) {
        if (this.stopped) return;
        why = e instanceof Error ? e.message : String(e);
      }
      if (this.stopped) return;
      // Exponential backoff with jitter: 0.5 s, 1 s, 2 s, … up to 30 s.
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt) * (0.75 + Math.random() / 2);
      attempt = Math.min(attempt + 1, 10);
      this.listener.link({ kind: "down", retryAt: Date.now() + delay, why });
      await new Promise((done) => setTimeout(done, delay));
    }
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      pending += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = pending.indexOf("\n\n")) >= 0) {
        const block = pending.slice(0, end);
        pending = pending.slice(end + 2);
        this.dispatch(block);
      }
    }
  }

  private dispatch(block: string): void {
    let event = "message";
    let id: string | null = null;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "id") id = value;
      else if (field === "data") data.push(value);
    }
    if (data.length === 0) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.join("\n"));
    } catch {
      return;
    }
    if (event === "batch") {
      if (id) this.lastId = id;
      this.listener.batch(parsed as Batch);
    } else if (event === "health") {
      this.listener.health(parsed as Health);
    }
  }
}
