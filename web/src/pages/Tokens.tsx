import { useState } from 'preact/hooks';
import { api, call, type Schemas } from '../api';
import { ACTIONS_COLUMN, ConfirmDialog, ListState, ProblemAlert, TableRegion, RowButton } from '../components/ui';
import { formatTime } from '../format';
import { useAction, useLoad, useTitle } from '../hooks';
import { isAdmin } from '../session';

type ApiToken = Schemas['ApiTokenResponseDto'];
type Scope = Schemas['ApiScope'];

/** Every scope, in the order the API lists them (admin ones shown to admins only: others cannot hold them). */
const SCOPES: { scope: Scope; what: string }[] = [
  { scope: 'vms:read', what: 'list and read VMs' },
  { scope: 'vms:write', what: 'create, change and act on VMs' },
  { scope: 'ssh_keys:read', what: 'list SSH keys' },
  { scope: 'ssh_keys:write', what: 'add and delete SSH keys' },
  { scope: 'credits:read', what: 'read the credit ledger' },
  { scope: 'events:read', what: 'read events and their live stream' },
  { scope: 'tokens:read', what: 'list API tokens' },
  { scope: 'tokens:write', what: 'create and revoke API tokens' },
  { scope: 'webhooks:read', what: 'list webhooks' },
  { scope: 'webhooks:write', what: 'manage webhooks' },
  { scope: 'admin:read', what: 'admin: read everything' },
  { scope: 'admin:write', what: 'admin: change anything' },
];

export function Tokens() {
  useTitle('API tokens');
  const tokens = useLoad((signal) => call(api.GET('/api/tokens', { params: { query: { limit: 100 } }, signal })), []);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['vms:read']);
  const [days, setDays] = useState('90');
  const [secret, setSecret] = useState<{ name: string; token: string } | null>(null);
  const [revoking, setRevoking] = useState<ApiToken | null>(null);
  const create = useAction(async () => {
    const body = { name, scopes, ...(days ? { expires_in_days: Number(days) } : {}) };
    const { token, ...created } = await call(api.POST('/api/tokens', { body }));
    tokens.setData((page) => page && { ...page, items: [created, ...page.items] });
    setSecret({ name: created.name, token });
    setName('');
  });
  const revoke = useAction(async (t: ApiToken) => {
    await call(api.DELETE('/api/tokens/{id}', { params: { path: { id: t.id } } }));
    tokens.setData((page) => page && { ...page, items: page.items.filter((x) => x.id !== t.id) });
    setRevoking(null);
  });
  const offered = SCOPES.filter((s) => isAdmin.value || !s.scope.startsWith('admin:'));
  return (
    <section aria-labelledby="tokens-title">
      <h1 id="tokens-title">API tokens</h1>
      <p class="muted">
        For scripts and CI: send a token as <code>Authorization: Bearer vmp_…</code>. It can do only what its scopes allow.
      </p>
      {secret && (
        <div class="card" role="status" aria-labelledby="secret-title">
          <h2 id="secret-title">Token {secret.name} created</h2>
          <p>Copy it now: it is shown this once and cannot be read again.</p>
          <p>
            <code data-testid="token-secret">{secret.token}</code>{' '}
            <button type="button" class="small" onClick={() => void navigator.clipboard?.writeText(secret.token)}>
              Copy
            </button>
          </p>
          <button type="button" class="small" onClick={() => setSecret(null)}>
            Done
          </button>
        </div>
      )}
      <ListState state={tokens} empty={<p class="empty">No API tokens yet.</p>}>
        {(items) => (
          <TableRegion label="Your API tokens" columns={['Name', 'Scopes', 'Created', 'Expires', 'Last used', ACTIONS_COLUMN]}>
            <tbody>
              {items.map((t) => (
                <tr key={t.id}>
                  <td>{t.name}</td>
                  <td>{t.scopes.join(', ')}</td>
                  <td>{formatTime(t.created_at)}</td>
                  <td>{t.expires_at ? formatTime(t.expires_at) : 'never'}</td>
                  <td>{t.last_used_at ? formatTime(t.last_used_at) : 'never'}</td>
                  <td>
                    <RowButton
                      label="Revoke"
                      ariaLabel={`Revoke token ${t.name}`}
                      onClick={() => (revoke.setProblem(null), setRevoking(t))}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </TableRegion>
        )}
      </ListState>
      <form class="card" onSubmit={(e) => (e.preventDefault(), void create.run())} aria-labelledby="create-token-title">
        <h2 id="create-token-title">Create a token</h2>
        <div class="field">
          <label for="token-name">Name</label>
          <input id="token-name" required maxLength={64} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <fieldset>
          <legend>Scopes</legend>
          {offered.map(({ scope, what }) => (
            <div class="field inline checkbox" key={scope}>
              <input
                id={`scope-${scope}`}
                type="checkbox"
                checked={scopes.includes(scope)}
                onChange={(e) => setScopes(e.currentTarget.checked ? [...scopes, scope] : scopes.filter((s) => s !== scope))}
              />
              <label for={`scope-${scope}`}>
                <code>{scope}</code> <span class="muted">{what}</span>
              </label>
            </div>
          ))}
        </fieldset>
        <div class="field">
          <label for="token-days">Expires after (days; empty: never)</label>
          <input
            id="token-days"
            type="number"
            inputMode="numeric"
            min={1}
            max={3650}
            step={1}
            value={days}
            onInput={(e) => setDays(e.currentTarget.value)}
          />
        </div>
        <ProblemAlert problem={create.problem} />
        <button type="submit" class="primary" disabled={create.busy || !scopes.length} aria-busy={create.busy}>
          {create.busy ? 'Creating…' : 'Create token'}
        </button>
      </form>
      <ConfirmDialog
        open={!!revoking}
        title={`Revoke token ${revoking?.name ?? ''}?`}
        confirmLabel="Revoke"
        danger
        busy={revoke.busy}
        onCancel={() => setRevoking(null)}
        onConfirm={() => revoking && void revoke.run(revoking)}
      >
        <p>Scripts using it get 401 from their next request; its open event streams end.</p>
        <ProblemAlert problem={revoke.problem} />
      </ConfirmDialog>
    </section>
  );
}
