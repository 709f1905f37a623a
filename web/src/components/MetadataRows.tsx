export interface MetadataRow {
  key: string;
  value: string;
}

/** Metadata as key/value rows; values are kept as text unless the original value was not a string. */
export function rowsFrom(metadata: Record<string, unknown> | null | undefined): MetadataRow[] {
  return Object.entries(metadata ?? {}).map(([key, value]) => ({ key, value: typeof value === 'string' ? value : JSON.stringify(value) }));
}

/** Text back to a value: JSON where the original was JSON (numbers, objects...), else the text itself. */
export function valueFrom(text: string, original: unknown): unknown {
  if (typeof original === 'string' || original === undefined) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function MetadataRows({
  rows,
  onChange,
  idPrefix,
}: {
  rows: MetadataRow[];
  onChange: (rows: MetadataRow[]) => void;
  idPrefix: string;
}) {
  const set = (i: number, patch: Partial<MetadataRow>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <div class="metadata-rows">
      {rows.length === 0 && <p class="muted">No metadata.</p>}
      {rows.map((row, i) => (
        <div class="metadata-row" key={i}>
          <label for={`${idPrefix}-key-${i}`} class="visually-hidden">
            Key {i + 1}
          </label>
          <input id={`${idPrefix}-key-${i}`} placeholder="key" value={row.key} onInput={(e) => set(i, { key: e.currentTarget.value })} />
          <label for={`${idPrefix}-value-${i}`} class="visually-hidden">
            Value {i + 1}
          </label>
          <input
            id={`${idPrefix}-value-${i}`}
            placeholder="value"
            value={row.value}
            onInput={(e) => set(i, { value: e.currentTarget.value })}
          />
          <button
            type="button"
            class="secondary small"
            aria-label={`Remove ${row.key || `row ${i + 1}`}`}
            onClick={() => onChange(rows.filter((_, j) => j !== i))}
          >
            Remove
          </button>
        </div>
      ))}
      <button type="button" class="secondary small" onClick={() => onChange([...rows, { key: '', value: '' }])}>
        Add a key
      </button>
    </div>
  );
}
