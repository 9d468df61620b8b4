// The dashboard: sign-in with an API key (kept in sessionStorage), hash routes (stable URLs
// that a static host serves as they are), and the live connection shared by every page.

import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { apiUrl, forgetKey, get, keepKey, loadConfig, Problem, Session, signIn, storedKey, whenUnauthenticated } from "./api";
import { LinkState } from "./live";
import { DecisionPage, DecisionsPage, Filters } from "./pages/decisions";
import { ExecutionPage, ExecutionsPage } from "./pages/executions";
import { DeadLettersPage, ExpectationsPage } from "./pages/expectations";
import { LivePage } from "./pages/live";
import { RuleSetAnswer, RulesPage } from "./pages/rules";
import { SchemasPage, SubjectPage } from "./pages/schemas";
import { StatsPage } from "./pages/stats";
import { TimelinePage } from "./pages/timeline";
import { LiveState, LiveStore } from "./store";
import { ErrorNote } from "./ui";

interface Route {
  page: "live" | "decisions" | "decision" | "executions" | "execution" | "timeline" | "stats" | "rules" | "schemas" | "subject" | "expectations" | "dead-letters" | "sign-in" | "unknown";
  id?: string;
  /** A schema subject's type (its source is `id`). */
  type?: string;
  params: URLSearchParams;
}

function parse(hash: string): Route {
  const [path, q] = hash.replace(/^#\/?/, "").split("?", 2);
  const parts = path.split("/").filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const params = new URLSearchParams(q ?? "");
  switch (parts[0] ?? "live") {
    case "live":
      return { page: "live", params };
    case "decisions":
      return parts[1] ? { page: "decision", id: parts[1], params } : { page: "decisions", params };
    case "executions":
      return parts[1] ? { page: "execution", id: parts[1], params } : { page: "executions", params };
    case "timeline":
      return { page: "timeline", id: parts.slice(1).join("/"), params };
    case "stats":
      return { page: "stats", params };
    case "expectations":
      return { page: "expectations", params };
    case "dead-letters":
      return { page: "dead-letters", params };
    case "rules":
      return { page: "rules", params };
    case "schemas":
      return parts[1] && parts[2] ? { page: "subject", id: parts[1], type: parts.slice(2).join("/"), params } : { page: "schemas", params };
    case "sign-in":
      return { page: "sign-in", params };
    default:
      return { page: "unknown", params };
  }
}

function useRoute(): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const f = () => setHash(location.hash);
    addEventListener("hashchange", f);
    return () => removeEventListener("hashchange", f);
  }, []);
  return parse(hash);
}

const TITLES: Record<Route["page"], string> = {
  live: "Live",
  decisions: "Decisions",
  decision: "Decision",
  executions: "Executions",
  execution: "Execution",
  timeline: "Timeline",
  stats: "Stats",
  expectations: "Expectations",
  "dead-letters": "Dead letters",
  rules: "Rules",
  schemas: "Schemas",
  subject: "Schema",
  "sign-in": "Sign in",
  unknown: "Not found",
};

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(true);
  const route = useRoute();

  // A key kept from earlier in this tab: check it again (it may have been revoked).
  useEffect(() => {
    whenUnauthenticated(() => {
      forgetKey();
      setSession(null);
    });
    const key = storedKey();
    if (!key) {
      setChecking(false);
      return;
    }
    signIn(key).then(
      (s) => {
        setSession(s);
        setChecking(false);
      },
      () => {
        forgetKey();
        setChecking(false);
      },
    );
  }, []);

  useEffect(() => {
    document.title = `${TITLES[route.page]} · Helios`;
  }, [route.page]);

  if (checking) return <p class="empty">Loading…</p>;
  if (!session) return <SignIn onSession={setSession} />;
  return <Signed session={session} route={route} signOut={() => (forgetKey(), setSession(null))} />;
}

/** The pages in the navigation: where, its name, and the routes it is current on. */
const NAV: [string, string, Route["page"][]][] = [
  ["#/live", "Live", ["live", "sign-in"]],
  ["#/decisions", "Decisions", ["decisions", "decision"]],
  ["#/executions", "Executions", ["executions", "execution"]],
  ["#/timeline", "Timeline", ["timeline"]],
  ["#/expectations", "Expectations", ["expectations"]],
  ["#/stats", "Stats", ["stats"]],
  ["#/rules", "Rules", ["rules"]],
  ["#/schemas", "Schemas", ["schemas", "subject"]],
  ["#/dead-letters", "Dead letters", ["dead-letters"]],
];

function Signed({ session, route, signOut }: { session: Session; route: Route; signOut: () => void }) {
  const store = useMemo(() => new LiveStore(signOut), []);
  const [live, setLive] = useState<LiveState>(store.state);
  useEffect(() => {
    const off = store.subscribe(() => setLive(store.state));
    store.start();
    return () => {
      off();
      store.stop();
    };
  }, [store]);
  // The rule ids, for the rules that never fired (Stats); undefined until read, null when the
  // set cannot be read.
  const [ruleIds, setRuleIds] = useState<string[] | null | undefined>(undefined);
  useEffect(() => {
    if (route.page !== "stats" || ruleIds) return;
    get<RuleSetAnswer>("/v1/rules").then(
      (r) => setRuleIds(r.rules.map((x) => x.id)),
      () => setRuleIds(null),
    );
  }, [route.page]);
  const go = (hash: string) => {
    location.hash = hash;
  };
  const filters: Filters = {
    subject: route.params.get("subject") ?? undefined,
    rule: route.params.get("rule") ?? undefined,
    severity: route.params.get("severity") ?? undefined,
  };
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Helios</span>
        <nav aria-label="Pages">
          {NAV.map(([target, label, pages]) => (
            <a key={target} href={target} aria-current={pages.includes(route.page) ? "page" : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <LinkBadge link={live.link} />
        <span class="who">
          {session.name} <span class="role">{session.role}</span>
          <button type="button" class="link" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <h1>{TITLES[route.page]}</h1>
        {route.page === "live" || route.page === "sign-in" ? <LivePage live={live} /> : null}
        {route.page === "decisions" ? (
          <DecisionsPage
            filters={filters}
            go={(f) => go(`#/decisions?${new URLSearchParams(Object.entries(f).filter(([, v]) => v) as [string, string][])}`)}
          />
        ) : null}
        {route.page === "decision" && route.id ? <DecisionPage id={route.id} session={session} /> : null}
        {route.page === "executions" ? (
          <ExecutionsPage
            machine={route.params.get("machine") ?? undefined}
            status={route.params.get("status") ?? undefined}
            go={(machine, status) => go(`#/executions?${new URLSearchParams(Object.entries({ machine, status }).filter(([, v]) => v) as [string, string][])}`)}
          />
        ) : null}
        {route.page === "execution" && route.id ? <ExecutionPage name={route.id} /> : null}
        {route.page === "timeline" ? (
          <TimelinePage subject={route.id ?? ""} go={(s) => go(`#/timeline/${encodeURIComponent(s)}`)} key={route.id} />
        ) : null}
        {route.page === "stats" ? <StatsPage range={route.params.get("range") ?? "24h"} go={(r) => go(`#/stats?range=${r}`)} rules={ruleIds} /> : null}
        {route.page === "rules" ? <RulesPage /> : null}
        {route.page === "schemas" ? <SchemasPage session={session} /> : null}
        {route.page === "subject" && route.id && route.type ? <SubjectPage source={route.id} type={route.type} key={`${route.id}\u0000${route.type}`} /> : null}
        {route.page === "expectations" ? <ExpectationsPage session={session} /> : null}
        {route.page === "dead-letters" ? <DeadLettersPage session={session} /> : null}
        {route.page === "unknown" ? <p class="empty">No such page. Go to <a href="#/live">Live</a>.</p> : null}
      </main>
    </>
  );
}

function LinkBadge({ link }: { link: LinkState }) {
  const [, tick] = useState(0);
  useEffect(() => {
    if (link.kind !== "down") return;
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [link]);
  if (link.kind === "live")
    return (
      <span class="badge live" role="status">
        live
      </span>
    );
  if (link.kind === "connecting")
    return (
      <span class="badge connecting" role="status">
        connecting…
      </span>
    );
  const s = Math.max(0, Math.ceil((link.retryAt - Date.now()) / 1000));
  return (
    <span class="badge down" role="status" title={link.why}>
      disconnected · retrying in {s} s
    </span>
  );
}

function SignIn({ onSession }: { onSession: (s: Session) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main id="main" class="sign-in">
      <h1>Helios</h1>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const s = await signIn(key.trim());
            keepKey(s.key);
            onSession(s);
          } catch (err) {
            setError(err instanceof Problem && err.status === 401 ? new Problem(401, "", "That key is not valid", "check it, or ask for a new one (helios keys create)") : err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="key">API key</label>
        <input id="key" type="password" autoComplete="off" value={key} onInput={(e) => setKey(e.currentTarget.value)} required />
        <p class="hint">A read key sees everything; an admin key may also acknowledge, replay and redrive. The key stays in this tab only.</p>
        <button type="submit" class="primary" disabled={busy || !key.trim()}>
          Sign in
        </button>
        <ErrorNote error={error} />
      </form>
    </main>
  );
}

// A one-time sign-in link (`helios demo`) carries a ticket in the fragment (which no server
// is sent), never the key: the ticket is traded for the key once (`POST /v1/session/redeem`),
// the key kept in this tab, and the ticket taken out of the address at once.
async function redeemTicketInFragment(): Promise<void> {
  const m = location.hash.match(/^#\/sign-in\?ticket=([A-Za-z0-9_]+)/);
  if (!m) return;
  history.replaceState(null, "", location.pathname + location.search + "#/live");
  try {
    const r = await fetch(apiUrl("/v1/session/redeem"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ticket: m[1] }),
    });
    if (r.ok) {
      const { key } = (await r.json()) as { key?: string };
      if (typeof key === "string" && key) keepKey(key);
    }
  } catch {
    // No answer: sign in by hand.
  }
}

void loadConfig()
  .then(redeemTicketInFragment)
  .then(() => {
    const root = document.getElementById("app");
    if (root) render(<App />, root);
  });
