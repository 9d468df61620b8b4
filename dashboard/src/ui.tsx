// Small pieces every page uses. Every string that came from an event is rendered as text
// (Preact escapes it); nothing here sets HTML, and links are built from ids only.

import { ComponentChildren, JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { Problem } from "./api";

/** A hash link: `#/decisions/<id>` (the id percent-encoded). */
export function href(...parts: string[]): string {
  return "#/" + parts.map(encodeURIComponent).join("/");
}

// One formatter each, made once: `toLocaleTimeString` makes a new one per call, which at a
// few hundred calls a render is most of the Live page's time.
const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const DATE_TIME = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "numeric",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hour12: false,
});

export function time(t: string | undefined | null): string {
  if (!t) return "";
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? t : TIME.format(d);
}

export function dateTime(t: string | undefined | null): string {
  if (!t) return "";
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? t : DATE_TIME.format(d);
}

export function Severity({ value }: { value?: string | null }) {
  if (!value) return <span class="sev sev-none">none</span>;
  return <span class={`sev sev-${value.replace(/[^a-z]/g, "")}`}>{value}</span>;
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const p = error instanceof Problem ? error : null;
  return (
    <div class="error" role="alert">
      <strong>{p ? p.title : "Something went wrong"}</strong>
      {p?.detail ? <span> — {p.detail}</span> : null}
    </div>
  );
}

export function Panel(props: { title: string; children: ComponentChildren; wide?: boolean; id?: string }) {
  return (
    <section class={props.wide ? "panel wide" : "panel"} aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      {props.children}
    </section>
  );
}

/** Loads `load()` when `deps` change: the value, the error, and whether it is loading. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { value: T | null; error: unknown; loading: boolean; reload: () => void } {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load().then(
      (v) => {
        if (!live) return;
        setValue(v);
        setError(null);
        setLoading(false);
      },
      (e) => {
        if (!live) return;
        setError(e);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, n]);
  return { value, error, loading, reload: () => setN((x) => x + 1) };
}

/** A JSON value shown as text. */
export function Json({ value }: { value: unknown }) {
  // Focusable, so that a keyboard can scroll it when it overflows.
  return (
    <pre class="json" tabIndex={0}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** Newer and Older buttons over cursor pages: `pages` holds the cursors of the pages after
 * the first, the last one being the page shown. */
export function Pager({ pages, setPages, next }: { pages: string[]; setPages: (p: string[]) => void; next: string | null | undefined }) {
  return (
    <div class="pager">
      {pages.length > 0 ? (
        <button type="button" onClick={() => setPages(pages.slice(0, -1))}>
          Newer
        </button>
      ) : null}
      {next ? (
        <button type="button" onClick={() => setPages([...pages, next])}>
          Older
        </button>
      ) : null}
    </div>
  );
}

/** A rule's check as a trace records it. */
export interface Check {
  kind: string;
  field?: string;
  op?: string;
  wanted: unknown;
  found: unknown;
  held: boolean;
}

/** The checks that stood in the way of a rule: each with what it wanted and what it found. */
export function StoodInTheWay({ checks }: { checks: Check[] }) {
  return (
    <>
      {checks
        .filter((c) => !c.held)
        .map((c, i) => (
          <div class="check" key={i}>
            <span class="field">{c.field ?? c.kind}</span> wanted <code>{JSON.stringify(c.wanted)}</code>, found{" "}
            <code>{c.found === null || c.found === undefined ? "absent" : JSON.stringify(c.found)}</code>
          </div>
        ))}
    </>
  );
}

/** A column of a [`Rows`] table: its heading and what each row shows in it. */
export interface Column<T> {
  label: string;
  cell: (row: T) => ComponentChildren;
  class?: string;
}

/** A table of rows; on a narrow screen each row becomes a card, each value with its heading
 * (`table.cards` in app.css). */
export function Rows<T>(props: {
  class: string;
  caption?: string;
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string | number;
  rowProps?: (row: T) => JSX.HTMLAttributes<HTMLTableRowElement>;
}) {
  return (
    <div class="table-wrap">
      <table class={`${props.class} cards`}>
        {props.caption ? <caption class="sr-only">{props.caption}</caption> : null}
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col" key={c.label}>
                {c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => (
            <tr key={props.rowKey(r)} {...(props.rowProps?.(r) ?? {})}>
              {props.columns.map((c) => (
                <td key={c.label} data-label={c.label} class={c.class}>
                  {c.cell(r)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
