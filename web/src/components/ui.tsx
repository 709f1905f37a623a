import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef } from 'preact/hooks';
import { isTransitional } from '@vm-platform/sdk';
import type { Problem, VmStatus } from '../api';
import type { Loaded } from '../hooks';

/** An API problem, shown where the user acted: its title, detail and field errors. */
export function ProblemAlert({ problem, id }: { problem: Problem | null; id?: string }) {
  if (!problem) return null;
  return (
    <div class="problem" role="alert" id={id} data-code={problem.code}>
      <strong>{problem.title}</strong>
      {problem.detail && <p>{problem.detail}</p>}
      {problem.errors && problem.errors.length > 0 && (
        <ul>
          {problem.errors.map((e) => (
            <li key={e.field}>
              <code>{e.field}</code>: {(e.messages ?? []).join('; ')}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export { isTransitional };

export function StatusBadge({ status }: { status: VmStatus }) {
  return (
    <span class={`badge badge-${status}`} data-status={status}>
      {isTransitional(status) && <span class="spinner" aria-hidden="true" />}
      {status}
    </span>
  );
}

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return (
    <p class="loading" role="status">
      <span class="spinner" aria-hidden="true" /> {label}
    </p>
  );
}

/** A modal confirmation on the native <dialog> (focus trap, Escape to cancel). */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  /** The dismissing button's text (default Cancel). */
  cancelLabel?: string;
  danger?: boolean;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog ref={ref} aria-labelledby={titleId} onCancel={(e) => (e.preventDefault(), props.onCancel())}>
      <form method="dialog" onSubmit={(e) => (e.preventDefault(), props.onConfirm())}>
        <h2 id={titleId}>{props.title}</h2>
        {props.children}
        <div class="actions">
          <button type="button" class="secondary" onClick={props.onCancel} disabled={props.busy}>
            {props.cancelLabel ?? 'Cancel'}
          </button>
          <button type="submit" class={props.danger ? 'danger' : 'primary'} disabled={props.busy} aria-busy={props.busy}>
            {props.busy && <span class="spinner" aria-hidden="true" />}
            {props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** Keyset pagination: forward with next_cursor, back through the cursors already seen. */
export function Pager(props: {
  cursors: (string | undefined)[];
  next: string | null | undefined;
  onPage: (cursors: (string | undefined)[]) => void;
  label: string;
}) {
  const { cursors, next, onPage } = props;
  if (cursors.length <= 1 && !next) return null;
  return (
    <nav class="pager" aria-label={`${props.label} pages`}>
      <button type="button" class="secondary" disabled={cursors.length <= 1} onClick={() => onPage(cursors.slice(0, -1))}>
        ← Previous
      </button>
      <span>Page {cursors.length}</span>
      <button type="button" class="secondary" disabled={!next} onClick={() => next && onPage([...cursors, next])}>
        Next →
      </button>
    </nav>
  );
}

/** A column heading: its text, `num` for a right-aligned number column; false or undefined leaves the column out. */
export type Column = string | { label: string; num?: boolean } | false | undefined;

/** The last column of a table whose rows end in buttons: named for screen readers only. */
export const ACTIONS_COLUMN = 'actions';

function heading(c: Exclude<Column, false | undefined>) {
  if (c === ACTIONS_COLUMN) {
    return (
      <th scope="col">
        <span class="visually-hidden">Actions</span>
      </th>
    );
  }
  return typeof c === 'string' ? (
    <th scope="col">{c}</th>
  ) : (
    <th scope="col" class={c.num ? 'num' : undefined}>
      {c.label}
    </th>
  );
}

/** Gives each body cell its column's heading as data-label (what a row shown as a card on a narrow screen prints before it). */
function labelCells(table: HTMLTableElement): void {
  const labels = Array.from(table.tHead?.rows[0]?.cells ?? [], (th) => th.textContent.trim());
  for (const body of Array.from(table.tBodies)) {
    for (const row of Array.from(body.rows)) {
      Array.from(row.cells).forEach((cell, i) => {
        const label = labels[i] ?? '';
        if (cell.dataset.label !== label) cell.dataset.label = label;
      });
    }
  }
}

/**
 * A labelled table: cells wrap so it fits where it can, and it scrolls sideways inside its own region
 * (focusable so keyboard users can scroll it) where it cannot, a last ACTIONS_COLUMN (a visually hidden
 * heading) staying in view; on a narrow screen each row is a card of "heading: value" lines. Its header
 * row comes from `columns`, its body from `children`.
 */
export function TableRegion({ label, columns, children }: { label: string; columns: Column[]; children: ComponentChildren }) {
  const ref = useRef<HTMLTableElement>(null);
  const shown = columns.filter((c): c is Exclude<Column, false | undefined> => !!c);
  useEffect(() => {
    const table = ref.current;
    if (!table) return;
    labelCells(table);
    // Rows that arrive later (live updates, a row component's own render) are labelled as they come.
    const observer = new MutationObserver(() => {
      labelCells(table);
    });
    observer.observe(table, { childList: true, subtree: true });
    return () => {
      observer.disconnect();
    };
  }, []);
  return (
    <div
      class={`table-scroll${shown[shown.length - 1] === ACTIONS_COLUMN ? ' has-actions' : ''}`}
      role="region"
      aria-label={label}
      tabIndex={0}
    >
      <table ref={ref}>
        <thead>
          <tr>{shown.map((c) => heading(c))}</tr>
        </thead>
        {children}
      </table>
    </div>
  );
}

/** A contract's regex as an input's `pattern`: browsers compile it with the v flag, where a literal hyphen in a class must be escaped. */
export function htmlPattern(pattern: string): string {
  return pattern.replace(/-\]/g, '\\-]');
}

export function Field(props: {
  label: string;
  hint?: ComponentChildren;
  children: (id: string, describedBy?: string) => ComponentChildren;
}) {
  const id = useId();
  const hintId = props.hint ? `${id}-hint` : undefined;
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {props.children(id, hintId)}
      {props.hint && (
        <small id={hintId} class="hint">
          {props.hint}
        </small>
      )}
    </div>
  );
}

/** A whole number within `limits` (what SizeField accepts). */
export function withinLimits(n: number, { min, max }: { min: number; max: number }): boolean {
  return Number.isInteger(n) && n >= min && n <= max;
}

/** A whole-number size input (memory, disk, cores) within the catalog's limits, labelled with its range. */
export function SizeField(props: {
  label: string;
  unit?: string;
  limits: { min: number; max: number };
  value: number;
  onValue: (n: number) => void;
}) {
  const { min, max } = props.limits;
  return (
    <Field label={props.label} hint={`${min}–${max}${props.unit ? ` ${props.unit}` : ''}`}>
      {(id, hint) => (
        <input
          id={id}
          aria-describedby={hint}
          type="number"
          inputMode="numeric"
          required
          min={min}
          max={max}
          step={1}
          value={props.value}
          onInput={(e) => {
            props.onValue(e.currentTarget.valueAsNumber);
          }}
        />
      )}
    </Field>
  );
}

/** A table row's action, named for screen readers by what it acts on (`danger` ones open a confirmation). */
export function RowButton(props: {
  label: string;
  ariaLabel: string;
  onClick: () => void;
  kind?: 'danger' | 'secondary';
  disabled?: boolean;
}) {
  return (
    <button
      type="button"
      class={`${props.kind ?? 'secondary'} small`}
      disabled={props.disabled}
      onClick={props.onClick}
      aria-label={props.ariaLabel}
    >
      {props.label}
    </button>
  );
}

/** A list being loaded: its problem, a spinner until the first answer, its empty state, else `children(items)`. */
export function ListState<T>(props: {
  state: Pick<Loaded<{ items: T[] }>, 'data' | 'problem' | 'loading'>;
  empty: ComponentChildren;
  loadingLabel?: string;
  children: (items: T[]) => ComponentChildren;
}) {
  const { state } = props;
  const items = state.data?.items;
  return (
    <>
      <ProblemAlert problem={state.problem} />
      {state.loading && !state.data && <Spinner label={props.loadingLabel} />}
      {items && items.length === 0 && props.empty}
      {items && items.length > 0 && props.children(items)}
    </>
  );
}
