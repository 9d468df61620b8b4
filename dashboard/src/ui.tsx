// Small pieces every page uses. Every string that came from an event is rendered as text
// (Preact escapes it); nothing here sets HTML, and links are built from ids only.

import { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { Problem } from "./api";

/** A hash link: `#/decisions/<id>` (the id percent-encoded). */
export function href(...parts: string[]): string {
  return "#/" + parts.map(encodeURIComponent).join("/");
}

export function time(t: string | undefined | null): string {
  if (!t) return "";
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? t : d.toLocaleTimeString([], { hour12: false });
}

export function dateTime(t: string | undefined | null): string {
  if (!t) return "";
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? t : d.toLocaleString([], { hour12: false });
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
