// Schemas: the registry's subjects (newest version, mode, policy, how many recorded facts did
// not fit), the facts the quarantine holds (released or dropped by an admin), and a subject's
// page: its versions with their violations, one version's schema, and a diff viewer between
// two versions, each change with its JSON pointer and whether it narrows or widens.

import { useState } from "preact/hooks";
import { get, post, query, Session } from "../api";
import { dateTime, ErrorNote, Json, Panel, Rows, useLoad } from "../ui";

interface SchemaSettings {
  mode: string;
  policy: string;
  set: boolean;
}

interface SubjectRow {
  source: string;
  type: string;
  latest: number;
  settings: SchemaSettings;
  violations: number;
}

interface Subject {
  source: string;
  type: string;
  settings: SchemaSettings;
  versions: { version: number; id: string; registered_at: string; violations: number }[];
}

interface SchemaVersion {
  version: number;
  id: string;
  registered_at: string;
  schema: unknown;
}

interface Change {
  pointer: string;
  kind: string;
  direction: "narrowed" | "widened" | "changed";
  detail: string;
}

interface Held {
  helios_id: string;
  source: string;
  type: string;
  held_at: string;
  reason: { schema: { id: string; version: number }; violations: { pointer: string; keyword: string; message: string }[] };
  status: string;
}

/** The dashboard route of a subject: its source and type, each one segment. */
export function subjectHref(source: string, type: string): string {
  return `#/schemas/${encodeURIComponent(source)}/${encodeURIComponent(type)}`;
}

function apiPath(source: string, type: string): string {
  return `/v1/schemas/${encodeURIComponent(source)}/${encodeURIComponent(type)}`;
}

export function SchemasPage({ session }: { session: Session }) {
  const subjects = useLoad(() => get<{ subjects: SubjectRow[] }>("/v1/schemas"), []);
  return (
    <div class="stack">
      <Panel title="Subjects" id="h-subjects" wide>
        {subjects.error ? <ErrorNote error={subjects.error} /> : null}
        {subjects.value && subjects.value.subjects.length === 0 ? (
          <p class="empty">
            No schema is registered yet: <code>helios schemas apply schemas/</code> registers the folder's.
          </p>
        ) : null}
        {subjects.value && subjects.value.subjects.length > 0 ? (
          <Rows
            class="list subjects"
            caption="Schema subjects"
            rows={subjects.value.subjects}
            rowKey={(s) => `${s.source}\u0000${s.type}`}
            columns={[
              { label: "Source", cell: (s) => <code>{s.source}</code> },
              { label: "Type", cell: (s) => <a href={subjectHref(s.source, s.type)}>{s.type}</a> },
              { label: "Version", cell: (s) => (s.latest > 0 ? s.latest : <span class="muted">none</span>) },
              { label: "Mode", cell: (s) => s.settings.mode },
              { label: "Policy", cell: (s) => <span class={`policy policy-${s.settings.policy}`}>{s.settings.policy}</span> },
              {
                label: "Violations",
                cell: (s) => (s.violations > 0 ? <strong class="violations">{s.violations}</strong> : <span class="muted">0</span>),
              },
            ]}
          />
        ) : null}
      </Panel>
      <Quarantine session={session} />
    </div>
  );
}

function Quarantine({ session }: { session: Session }) {
  const held = useLoad(() => get<{ held: Held[]; next: string | null }>("/v1/quarantine?limit=100"), []);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const may = session.role === "admin";
  const act = async (h: Held, action: "release" | "drop") => {
    setError(null);
    try {
      await post(`/v1/quarantine/${encodeURIComponent(h.helios_id)}/${action}`);
      setDone(`${h.helios_id} ${action === "release" ? "released: it is published and decided" : "dropped: it stays recorded, never decided"}.`);
      held.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Panel title="Quarantine" id="h-quarantine" wide>
      <p class="muted">Facts recorded under the quarantine policy that did not fit their schema: not decided until an admin releases them.</p>
      {!may ? <p class="muted">Your {session.role} key may not release or drop; an admin key may.</p> : null}
      {held.error ? <ErrorNote error={held.error} /> : null}
      {held.value && held.value.held.length === 0 ? <p class="empty">Nothing is held.</p> : null}
      {held.value && held.value.held.length > 0 ? (
        <Rows
          class="list held"
          caption="Held facts"
          rows={held.value.held}
          rowKey={(h) => h.helios_id}
          columns={[
            { label: "Held", cell: (h) => dateTime(h.held_at) },
            { label: "Event", cell: (h) => <code>{h.helios_id}</code> },
            {
              label: "Subject",
              cell: (h) => (
                <a href={subjectHref(h.source, h.type)}>
                  {h.source} {h.type}
                </a>
              ),
            },
            { label: "Version", cell: (h) => h.reason.schema.version },
            {
              label: "Violations",
              cell: (h) => (
                <ul class="plain">
                  {h.reason.violations.map((v, i) => (
                    <li key={i}>
                      <code>{v.pointer || "/"}</code> {v.message}
                    </li>
                  ))}
                </ul>
              ),
            },
            {
              label: "Act",
              cell: (h) => (
                <span class="actions">
                  <button type="button" class="primary" disabled={!may} title={may ? "Publish it: it is decided" : "Your key may not release: an admin key may"} onClick={() => act(h, "release")}>
                    Release
                  </button>{" "}
                  <button type="button" disabled={!may} title={may ? "Never decide it" : "Your key may not drop: an admin key may"} onClick={() => act(h, "drop")}>
                    Drop
                  </button>
                </span>
              ),
            },
          ]}
        />
      ) : null}
      {done ? (
        <p class="ok" role="status">
          {done}
        </p>
      ) : null}
      <ErrorNote error={error} />
    </Panel>
  );
}

export function SubjectPage({ source, type }: { source: string; type: string }) {
  const subject = useLoad(() => get<Subject>(apiPath(source, type)), [source, type]);
  const [shown, setShown] = useState<number | null>(null);
  if (subject.error) return <ErrorNote error={subject.error} />;
  if (!subject.value) return <p class="empty">Loading…</p>;
  const s = subject.value;
  const latest = s.versions.length ? s.versions[s.versions.length - 1].version : null;
  const current = shown ?? latest;
  return (
    <div class="stack">
      <section class="headline">
        <h2 class="explanation">
          <code>{s.source}</code> {s.type}
        </h2>
        <p class="muted">
          mode <strong>{s.settings.mode}</strong> · policy <strong>{s.settings.policy}</strong>
          {s.settings.set ? "" : " (the defaults)"} · {s.versions.length} version{s.versions.length === 1 ? "" : "s"}
        </p>
        <p>
          <a href="#/schemas">All subjects</a>
        </p>
      </section>
      <Panel title="Version history" id="h-versions" wide>
        {s.versions.length === 0 ? <p class="empty">No version yet.</p> : null}
        {s.versions.length > 0 ? (
          <Rows
            class="list versions"
            caption="Versions"
            rows={[...s.versions].reverse()}
            rowKey={(v) => v.version}
            columns={[
              {
                label: "Version",
                cell: (v) => (
                  <button type="button" class="link" aria-pressed={v.version === current} onClick={() => setShown(v.version)}>
                    {v.version}
                  </button>
                ),
              },
              { label: "Id", cell: (v) => <code>{v.id}</code> },
              { label: "Registered", cell: (v) => dateTime(v.registered_at) },
              { label: "Violations", cell: (v) => (v.violations > 0 ? <strong class="violations">{v.violations}</strong> : <span class="muted">0</span>) },
            ]}
          />
        ) : null}
      </Panel>
      {current !== null ? <VersionSchema source={source} type={type} version={current} /> : null}
      {s.versions.length > 1 ? <DiffViewer source={source} type={type} versions={s.versions.map((v) => v.version)} /> : null}
    </div>
  );
}

function VersionSchema({ source, type, version }: { source: string; type: string; version: number }) {
  const v = useLoad(() => get<SchemaVersion>(`${apiPath(source, type)}/versions/${version}`), [source, type, version]);
  return (
    <Panel title={`Version ${version}`} id="h-schema" wide>
      {v.error ? <ErrorNote error={v.error} /> : null}
      {v.value ? <Json value={v.value.schema} /> : <p class="empty">Loading…</p>}
    </Panel>
  );
}

function DiffViewer({ source, type, versions }: { source: string; type: string; versions: number[] }) {
  const last = versions[versions.length - 1];
  const [from, setFrom] = useState(versions[versions.length - 2]);
  const [to, setTo] = useState(last);
  const diff = useLoad(() => get<{ changes: Change[] }>(`${apiPath(source, type)}/diff${query({ from, to })}`), [source, type, from, to]);
  const pick = (label: string, value: number, set: (n: number) => void) => (
    <label>
      {label}{" "}
      <select value={value} onChange={(e) => set(Number(e.currentTarget.value))}>
        {versions.map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <Panel title="Diff" id="h-diff" wide>
      <div class="filters">
        {pick("From version", from, setFrom)} {pick("to version", to, setTo)}
      </div>
      {diff.error ? <ErrorNote error={diff.error} /> : null}
      {diff.value && diff.value.changes.length === 0 ? <p class="empty">The two versions accept the same documents.</p> : null}
      {diff.value && diff.value.changes.length > 0 ? (
        <Rows
          class="list changes"
          caption="Changes"
          rows={diff.value.changes}
          rowKey={(c) => `${c.pointer}\u0000${c.kind}`}
          columns={[
            { label: "Where", cell: (c) => <code>{c.pointer || "/"}</code> },
            { label: "Change", cell: (c) => <span class={`direction direction-${c.direction}`}>{c.direction}</span> },
            { label: "Kind", cell: (c) => <code>{c.kind}</code> },
            { label: "What", cell: (c) => c.detail },
          ]}
        />
      ) : null}
    </Panel>
  );
}
