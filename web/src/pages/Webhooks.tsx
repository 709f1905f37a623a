import { useState } from 'preact/hooks';
import { api, call, type Schemas } from '../api';
import { ACTIONS_COLUMN, ConfirmDialog, ListState, ProblemAlert, TableRegion, RowButton } from '../components/ui';
import { formatTime } from '../format';
import { useAction, useLoad, useTitle } from '../hooks';

type Webhook = Schemas['WebhookResponseDto'];
type Delivery = Schemas['WebhookDeliveryResponseDto'];

/** A delivery's last attempt in a few words. */
function lastOutcome(d: Delivery): string {
  const last = d.attempt_log[d.attempt_log.length - 1];
  if (!last) return 'not attempted yet';
  return last.error ?? `HTTP ${last.status_code ?? '—'}`;
}

function Deliveries({ webhook }: { webhook: Webhook }) {
  const deliveries = useLoad(
    (signal) => call(api.GET('/api/webhooks/{id}/deliveries', { params: { path: { id: webhook.id }, query: { limit: 50 } }, signal })),
    [webhook.id],
  );
  const retry = useAction(async (d: Delivery) => {
    const updated = await call(
      api.POST('/api/webhooks/{id}/deliveries/{delivery_id}/retry', { params: { path: { id: webhook.id, delivery_id: d.id } } }),
    );
    deliveries.setData((page) => page && { ...page, items: page.items.map((x) => (x.id === updated.id ? updated : x)) });
  });
  return (
    <section aria-labelledby={`deliveries-${webhook.id}`}>
      <h3 id={`deliveries-${webhook.id}`}>Deliveries to {webhook.url}</h3>
      <button type="button" class="secondary small" onClick={() => deliveries.reload()}>
        Refresh
      </button>
      <ProblemAlert problem={retry.problem} />
      <ListState state={deliveries} empty={<p class="empty">No deliveries yet.</p>}>
        {(items) => (
          <TableRegion
            label="Deliveries"
            columns={['Event', 'Status', { label: 'Attempts', num: true }, 'Last outcome', 'Next attempt', 'Created', ACTIONS_COLUMN]}
          >
            <tbody>
              {items.map((d) => (
                <tr key={d.id}>
                  <td>
                    <code>{d.event_type}</code>
                    <br />
                    <small class="muted">{d.event_id}</small>
                  </td>
                  <td>{d.status}</td>
                  <td class="num">{d.attempts}</td>
                  <td>
                    <details>
                      <summary>{lastOutcome(d)}</summary>
                      <ol>
                        {d.attempt_log.map((a) => (
                          <li key={a.attempt}>
                            {formatTime(a.attempted_at)}: {a.status_code !== null ? `HTTP ${a.status_code}` : 'no answer'} in{' '}
                            {a.duration_ms} ms
                            {a.error ? ` (${a.error})` : ''}
                            {a.next_attempt_at ? `; next at ${formatTime(a.next_attempt_at)}` : ''}
                          </li>
                        ))}
                      </ol>
                    </details>
                  </td>
                  <td>{d.next_attempt_at ? formatTime(d.next_attempt_at) : '—'}</td>
                  <td>{formatTime(d.created_at)}</td>
                  <td>
                    {d.status !== 'pending' && webhook.enabled && (
                      <RowButton
                        label="Retry"
                        ariaLabel={`Retry delivery of ${d.event_type}`}
                        disabled={retry.busy}
                        onClick={() => void retry.run(d)}
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </TableRegion>
        )}
      </ListState>
    </section>
  );
}

export function Webhooks() {
  useTitle('Webhooks');
  const hooks = useLoad((signal) => call(api.GET('/api/webhooks', { params: { query: { limit: 100 } }, signal })), []);
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState('vm.*');
  const [description, setDescription] = useState('');
  const [secret, setSecret] = useState<{ url: string; secret: string } | null>(null);
  const [deleting, setDeleting] = useState<Webhook | null>(null);
  const [showing, setShowing] = useState<string | null>(null);
  const add = useAction(async () => {
    const list = events
      .split(/[\s,]+/)
      .map((e) => e.trim())
      .filter(Boolean);
    const created = await call(api.POST('/api/webhooks', { body: { url, events: list, ...(description ? { description } : {}) } }));
    const { secret: shown, ...webhook } = created;
    hooks.setData((page) => page && { ...page, items: [webhook, ...page.items] });
    setSecret({ url: created.url, secret: shown });
    setUrl('');
    setDescription('');
  });
  const toggle = useAction(async (w: Webhook) => {
    const updated = await call(api.PATCH('/api/webhooks/{id}', { params: { path: { id: w.id } }, body: { enabled: !w.enabled } }));
    hooks.setData((page) => page && { ...page, items: page.items.map((x) => (x.id === updated.id ? updated : x)) });
  });
  const remove = useAction(async (w: Webhook) => {
    await call(api.DELETE('/api/webhooks/{id}', { params: { path: { id: w.id } } }));
    hooks.setData((page) => page && { ...page, items: page.items.filter((x) => x.id !== w.id) });
    if (showing === w.id) setShowing(null);
    setDeleting(null);
  });
  const shown = hooks.data?.items.find((w) => w.id === showing);
  return (
    <section aria-labelledby="hooks-title">
      <h1 id="hooks-title">Webhooks</h1>
      <p class="muted">
        Your events are POSTed to these URLs as they happen, signed per Standard Webhooks (<code>webhook-id</code>,{' '}
        <code>webhook-timestamp</code>, <code>webhook-signature</code>). Failed deliveries are retried with backoff for 24 hours; an
        endpoint failing longer is disabled.
      </p>
      {secret && (
        <div class="card" role="status" aria-labelledby="secret-title">
          <h2 id="secret-title">Signing secret for {secret.url}</h2>
          <p>Copy it now: it is shown only this once.</p>
          <p>
            <code data-testid="webhook-secret">{secret.secret}</code>
          </p>
          <button type="button" class="secondary small" onClick={() => setSecret(null)}>
            I have copied it
          </button>
        </div>
      )}
      <ProblemAlert problem={toggle.problem} />
      <ListState state={hooks} empty={<p class="empty">No webhooks yet.</p>}>
        {(items) => (
          <TableRegion label="Your webhooks" columns={['URL', 'Events', 'Status', 'Created', ACTIONS_COLUMN]}>
            <tbody>
              {items.map((w) => (
                <tr key={w.id}>
                  <td>
                    <code>{w.url}</code>
                    {w.description && (
                      <>
                        <br />
                        <small class="muted">{w.description}</small>
                      </>
                    )}
                  </td>
                  <td>{w.events.join(', ')}</td>
                  <td>
                    {w.enabled
                      ? w.failing_since
                        ? `failing since ${formatTime(w.failing_since)}`
                        : 'enabled'
                      : `disabled${w.disabled_reason ? `: ${w.disabled_reason}` : ''}`}
                  </td>
                  <td>{formatTime(w.created_at)}</td>
                  <td>
                    <button
                      type="button"
                      class="secondary small"
                      onClick={() => setShowing(showing === w.id ? null : w.id)}
                      aria-expanded={showing === w.id}
                    >
                      Deliveries
                    </button>{' '}
                    <button type="button" class="secondary small" disabled={toggle.busy} onClick={() => void toggle.run(w)}>
                      {w.enabled ? 'Disable' : 'Enable'}
                    </button>{' '}
                    <RowButton
                      label="Delete"
                      ariaLabel={`Delete webhook ${w.url}`}
                      onClick={() => (remove.setProblem(null), setDeleting(w))}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </TableRegion>
        )}
      </ListState>
      {shown && <Deliveries webhook={shown} />}
      <form class="card" onSubmit={(e) => (e.preventDefault(), void add.run())} aria-labelledby="add-hook-title">
        <h2 id="add-hook-title">Add a webhook</h2>
        <div class="field">
          <label for="hook-url">URL</label>
          <input
            id="hook-url"
            type="url"
            required
            maxLength={2048}
            placeholder="https://hooks.example.com/vm-platform"
            value={url}
            onInput={(e) => setUrl(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="hook-events">Events</label>
          <input
            id="hook-events"
            required
            aria-describedby="hook-events-hint"
            value={events}
            onInput={(e) => setEvents(e.currentTarget.value)}
          />
          <small id="hook-events-hint" class="hint">
            Event types (<code>vm.provisioned</code>), areas (<code>vm.*</code>, <code>auth.*</code>) or <code>*</code>, separated by commas
            or spaces.
          </small>
        </div>
        <div class="field">
          <label for="hook-description">Description (optional)</label>
          <input id="hook-description" maxLength={200} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </div>
        <ProblemAlert problem={add.problem} />
        <button type="submit" class="primary" disabled={add.busy} aria-busy={add.busy}>
          {add.busy ? 'Adding…' : 'Add webhook'}
        </button>
      </form>
      <ConfirmDialog
        open={!!deleting}
        title={`Delete the webhook to ${deleting?.url ?? ''}?`}
        confirmLabel="Delete"
        danger
        busy={remove.busy}
        onCancel={() => setDeleting(null)}
        onConfirm={() => deleting && void remove.run(deleting)}
      >
        <p>Nothing more is sent to it; its delivery log is deleted with it.</p>
        <ProblemAlert problem={remove.problem} />
      </ConfirmDialog>
    </section>
  );
}
