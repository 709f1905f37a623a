import { useEffect, useRef, useState } from 'preact/hooks';
import { api, call, type Schemas } from '../../api';
import { ConfirmDialog, ProblemAlert, Spinner } from '../../components/ui';
import { formatMb } from '../../format';
import { useAction, useLoad } from '../../hooks';

type User = Schemas['UserResponseDto'];
type Detail = Schemas['AdminUserDetailDto'];
type Resource = keyof Detail['quota_overrides'];

const RESOURCES: { key: Resource; label: string; format: (n: number) => string }[] = [
  { key: 'vms', label: 'VMs', format: String },
  { key: 'cpu_cores', label: 'vCPU cores', format: String },
  { key: 'ram_mb', label: 'RAM (MB)', format: formatMb },
];

type Values = Record<Resource, string>;

const valuesOf = (overrides: Detail['quota_overrides']): Values => ({
  vms: overrides.vms === null ? '' : String(overrides.vms),
  cpu_cores: overrides.cpu_cores === null ? '' : String(overrides.cpu_cores),
  ram_mb: overrides.ram_mb === null ? '' : String(overrides.ram_mb),
});

/** 0 is no limit. */
const limitText = (n: number, format: (n: number) => string) => (n === 0 ? 'no limit' : format(n));

/**
 * A user's quota use against their limits, and their own limits to set or clear (empty: the QUOTA_*
 * default applies). The API validates; its field errors are shown on the fields they name.
 */
export function QuotaDialog({ user, onClose }: { user: User; onClose: () => void }) {
  const detail = useLoad((signal) => call(api.GET('/api/admin/users/{id}', { params: { path: { id: user.id } }, signal })), [user.id]);
  const [values, setValues] = useState<Values | null>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (detail.data && !values) setValues(valuesOf(detail.data.quota_overrides));
  }, [detail.data, values]);
  // The dialog opens on a spinner: once the form is there, focus moves to its first field.
  const firstField = useRef<HTMLInputElement>(null);
  const ready = !!values;
  useEffect(() => {
    if (ready) firstField.current?.focus();
  }, [ready]);
  const save = useAction(async (form: Values) => {
    const own = (v: string) => (v.trim() === '' ? null : Number(v));
    await call(
      api.PATCH('/api/admin/users/{id}', {
        params: { path: { id: user.id } },
        body: { quotas: { vms: own(form.vms), cpu_cores: own(form.cpu_cores), ram_mb: own(form.ram_mb) } },
      }),
    );
    const fresh = await call(api.GET('/api/admin/users/{id}', { params: { path: { id: user.id } } }));
    detail.setData(() => fresh);
    setValues(valuesOf(fresh.quota_overrides));
    setSaved(true);
  });
  const edit = (key: Resource, value: string) => {
    setSaved(false);
    setValues((v) => v && { ...v, [key]: value });
  };
  const invalid = (key: Resource) => !!save.problem?.errors?.some((e) => e.field === `quotas.${key}`);
  const d = detail.data;
  return (
    <ConfirmDialog
      open
      title={`Quotas of ${user.username}`}
      confirmLabel={save.busy ? 'Saving…' : 'Save quotas'}
      cancelLabel="Close"
      busy={save.busy || !d || !values}
      onCancel={onClose}
      onConfirm={() => {
        if (values) void save.run(values);
      }}
    >
      <ProblemAlert problem={detail.problem} />
      {!d || !values ? (
        !detail.problem && <Spinner />
      ) : (
        <>
          <p class="hint" id="quota-hint">
            Empty uses the default; 0 means no limit.
          </p>
          {RESOURCES.map(({ key, label, format }) => (
            <div class="field" key={key} data-quota={key}>
              <label for={`quota-${key}`}>{label}</label>
              <span id={`quota-${key}-use`} data-testid={`quota-${key}-use`}>
                {format(d.quota.used[key])} in use of {limitText(d.quota.limits[key], format)}
                {d.quota_overrides[key] === null ? ' (default)' : ` (own limit; default ${limitText(d.quota_defaults[key], format)})`}
              </span>
              <div class="quota-input">
                <input
                  id={`quota-${key}`}
                  ref={key === RESOURCES[0]?.key ? firstField : undefined}
                  type="number"
                  inputMode="numeric"
                  min={0}
                  step={1}
                  placeholder={`Default: ${limitText(d.quota_defaults[key], String)}`}
                  aria-describedby={`quota-${key}-use quota-hint${invalid(key) ? ' quota-problem' : ''}`}
                  aria-invalid={invalid(key) || undefined}
                  value={values[key]}
                  onInput={(e) => {
                    edit(key, e.currentTarget.value);
                  }}
                />
                <button
                  type="button"
                  class="secondary small"
                  aria-label={`Use default for ${label}`}
                  disabled={values[key] === ''}
                  onClick={() => {
                    edit(key, '');
                  }}
                >
                  Use default
                </button>
              </div>
            </div>
          ))}
          {saved && (
            <p role="status" class="saved">
              Quotas saved.
            </p>
          )}
        </>
      )}
      <ProblemAlert problem={save.problem} id="quota-problem" />
    </ConfirmDialog>
  );
}
