// The HTTP API as the dashboard calls it: the key from sessionStorage (never in a URL), one
// error type for every problem+json answer.

const KEY = "helios.key";

export type Role = "ingest" | "read" | "admin";

export interface Session {
  key: string;
  role: Role;
  name: string;
}

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function keepKey(key: string): void {
  sessionStorage.setItem(KEY, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY);
}

/** Where the API is: the page's own origin on `helios dev`; in AWS, `config.json` beside the
 * assets names the API Gateway endpoint. */
let base = "";
/** The live feed's WebSocket URL (API Gateway's, from `config.json`); none on `helios dev`,
 * whose feed is `GET /v1/stream`. */
let socket: string | null = null;

export async function loadConfig(): Promise<void> {
  try {
    const r = await fetch("config.json", { cache: "no-store" });
    if (r.ok) {
      const c = (await r.json()) as { api?: string; socket?: string };
      if (typeof c.api === "string") base = c.api.replace(/\/$/, "");
      if (typeof c.socket === "string" && /^wss?:\/\//.test(c.socket)) socket = c.socket;
    }
  } catch {
    // No config: the API is on this origin.
  }
}

export function socketUrl(): string | null {
  return socket;
}

export function apiUrl(path: string): string {
  return base + path;
}

/** A problem+json answer (or a network failure, status 0). */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly title: string,
    readonly detail: string,
  ) {
    super(detail || title);
  }
}

async function problemOf(r: Response): Promise<Problem> {
  try {
    const p = (await r.json()) as { type?: string; title?: string; detail?: string };
    return new Problem(r.status, p.type ?? "", p.title ?? r.statusText, p.detail ?? "");
  } catch {
    return new Problem(r.status, "", r.statusText, `HTTP ${r.status}`);
  }
}

/** Called when the key is refused (401): the app goes back to sign-in. */
let onUnauthenticated: () => void = () => {};
export function whenUnauthenticated(f: () => void): void {
  onUnauthenticated = f;
}

export function authHeaders(): Record<string, string> {
  const key = storedKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  let r: Response;
  try {
    r = await fetch(apiUrl(path), {
      method,
      headers: {
        ...authHeaders(),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (e) {
    throw new Problem(0, "network", "Helios cannot be reached", String(e));
  }
  if (!r.ok) {
    const p = await problemOf(r);
    if (r.status === 401) onUnauthenticated();
    throw p;
  }
  return (await r.json()) as T;
}

export function get<T>(path: string): Promise<T> {
  return call<T>("GET", path);
}

export function post<T>(path: string, body?: unknown): Promise<T> {
  return call<T>("POST", path, body ?? {});
}

/** The key's name and role, or the problem that refused it. */
export async function signIn(key: string): Promise<Session> {
  let r: Response;
  try {
    r = await fetch(apiUrl("/v1/session"), {
      headers: { authorization: `Bearer ${key}` },
      cache: "no-store",
    });
  } catch (e) {
    throw new Problem(0, "network", "Helios cannot be reached", String(e));
  }
  if (!r.ok) throw await problemOf(r);
  const s = (await r.json()) as { name: string; role: Role };
  return { key, name: s.name, role: s.role };
}

export interface EventSummary {
  seq: number;
  id: string;
  source: string;
  type: string;
  subject?: string | null;
  time: string;
  received_at: string;
  format: string;
  family: string;
}

export interface DecisionSummary {
  seq?: number;
  id: string;
  event: string;
  subject?: string | null;
  severity?: string | null;
  score?: number | null;
  rules: string[];
  decided_at: string;
  ruleset: { name?: string; version?: string | number; hash?: string } | string;
  explanation: string;
}

/** Query string of the parameters that have a value. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
