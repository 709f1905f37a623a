import { useState } from 'preact/hooks';
import { api, call, type Schemas } from '../api';
import { ACTIONS_COLUMN, ConfirmDialog, ListState, ProblemAlert, TableRegion, RowButton } from '../components/ui';
import { formatTime } from '../format';
import { useAction, useLoad, useTitle } from '../hooks';

type SshKey = Schemas['SshKeyResponseDto'];

export function SshKeys() {
  useTitle('SSH keys');
  const keys = useLoad((signal) => call(api.GET('/api/ssh-keys', { params: { query: { limit: 100 } }, signal })), []);
  const [name, setName] = useState('');
  const [publicKey, setPublicKey] = useState('');
  const [deleting, setDeleting] = useState<SshKey | null>(null);
  const add = useAction(async () => {
    const key = await call(api.POST('/api/ssh-keys', { body: { name, public_key: publicKey } }));
    keys.setData((page) => page && { ...page, items: [key, ...page.items] });
    setName('');
    setPublicKey('');
  });
  const remove = useAction(async (key: SshKey) => {
    await call(api.DELETE('/api/ssh-keys/{id}', { params: { path: { id: key.id } } }));
    keys.setData((page) => page && { ...page, items: page.items.filter((k) => k.id !== key.id) });
    setDeleting(null);
  });
  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">SSH keys</h1>
      <p class="muted">Keys you choose at launch are installed for the VM's login user on first boot.</p>
      <ListState state={keys} empty={<p class="empty">No SSH keys yet.</p>}>
        {(items) => (
          <TableRegion label="Your keys" columns={['Name', 'Type', 'Fingerprint', 'Added', ACTIONS_COLUMN]}>
            <tbody>
              {items.map((k) => (
                <tr key={k.id}>
                  <td>{k.name}</td>
                  <td>
                    {k.type}
                    {k.bits ? ` (${k.bits})` : ''}
                  </td>
                  <td>
                    <code>{k.fingerprint}</code>
                  </td>
                  <td>{formatTime(k.created_at)}</td>
                  <td>
                    <RowButton
                      label="Delete"
                      ariaLabel={`Delete key ${k.name}`}
                      onClick={() => (remove.setProblem(null), setDeleting(k))}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </TableRegion>
        )}
      </ListState>
      <form class="card" onSubmit={(e) => (e.preventDefault(), void add.run())} aria-labelledby="add-key-title">
        <h2 id="add-key-title">Add a key</h2>
        <div class="field">
          <label for="key-name">Name</label>
          <input id="key-name" required maxLength={64} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="key-public">Public key</label>
          <textarea
            id="key-public"
            required
            rows={4}
            aria-describedby="key-public-hint"
            spellcheck={false}
            value={publicKey}
            onInput={(e) => setPublicKey(e.currentTarget.value)}
          />
          <small id="key-public-hint" class="hint">
            The contents of your <code>~/.ssh/id_ed25519.pub</code> (or another OpenSSH public key).
          </small>
        </div>
        <ProblemAlert problem={add.problem} />
        <button type="submit" class="primary" disabled={add.busy} aria-busy={add.busy}>
          {add.busy ? 'Adding…' : 'Add key'}
        </button>
      </form>
      <ConfirmDialog
        open={!!deleting}
        title={`Delete key ${deleting?.name ?? ''}?`}
        confirmLabel="Delete"
        danger
        busy={remove.busy}
        onCancel={() => setDeleting(null)}
        onConfirm={() => deleting && void remove.run(deleting)}
      >
        <p>VMs that already have this key keep it; new VMs can no longer choose it.</p>
        <ProblemAlert problem={remove.problem} />
      </ConfirmDialog>
    </section>
  );
}
