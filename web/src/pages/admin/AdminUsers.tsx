import { useEffect, useState } from 'preact/hooks';
import { useSearchParams } from 'wouter-preact';
import { api, call, idempotencyKey, type Schemas } from '../../api';
import { ACTIONS_COLUMN, ConfirmDialog, ListState, Pager, ProblemAlert, TableRegion, RowButton } from '../../components/ui';
import { signed } from '../../format';
import { useAction, useLoad, useTitle } from '../../hooks';
import { QuotaDialog } from './QuotaDialog';

type User = Schemas['UserResponseDto'];

export function AdminUsers() {
  useTitle('Users');
  // The search lives in the URL (?q=), so reload, back and a shared link keep it.
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const [qInput, setQInput] = useState(q);
  useEffect(() => {
    setQInput(q);
  }, [q]);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const search = (text: string) => {
    const next = new URLSearchParams();
    if (text.trim()) next.set('q', text.trim());
    setParams(next);
    setCursors([undefined]);
  };
  const page = useLoad(
    (signal) => call(api.GET('/api/admin/users', { params: { query: { limit: 20, cursor, q: q || undefined } }, signal })),
    [cursor, q],
  );
  const [adjusting, setAdjusting] = useState<User | null>(null);
  const [quotas, setQuotas] = useState<User | null>(null);
  const [toggling, setToggling] = useState<User | null>(null);
  const toggle = useAction(async (user: User) => {
    const fresh = await call(
      api.PATCH('/api/admin/users/{id}', { params: { path: { id: user.id } }, body: { is_active: !user.is_active } }),
    );
    page.setData((p) => p && { ...p, items: p.items.map((u) => (u.id === fresh.id ? fresh : u)) });
    setToggling(null);
  });
  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">Users</h1>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          search(qInput);
        }}
        aria-label="Search users"
      >
        <div class="field inline">
          <label for="user-search">Email or username contains</label>
          <input
            id="user-search"
            type="search"
            maxLength={254}
            value={qInput}
            onInput={(e) => {
              setQInput(e.currentTarget.value);
            }}
            onChange={(e) => {
              search(e.currentTarget.value);
            }}
          />
        </div>
      </form>
      <ListState state={page} empty={<p class="empty">No users match.</p>}>
        {(items) => (
          <TableRegion
            label="User accounts"
            columns={['Username', 'Email', 'Role', 'Active', { label: 'Credits', num: true }, ACTIONS_COLUMN]}
          >
            <tbody>
              {items.map((u) => (
                <tr key={u.id} data-user={u.email}>
                  <td>{u.username}</td>
                  <td>{u.email}</td>
                  <td>{u.role}</td>
                  <td>{u.is_active ? 'yes' : 'no'}</td>
                  <td class="num">{u.credits}</td>
                  <td>
                    <RowButton
                      label="Adjust credits"
                      ariaLabel={`Adjust credits of ${u.username}`}
                      onClick={() => {
                        setAdjusting(u);
                      }}
                    />
                    <RowButton
                      label="Quotas"
                      ariaLabel={`Quotas of ${u.username}`}
                      kind="secondary"
                      onClick={() => {
                        setQuotas(u);
                      }}
                    />
                    <RowButton
                      label={u.is_active ? 'Deactivate' : 'Reactivate'}
                      ariaLabel={`${u.is_active ? 'Deactivate' : 'Reactivate'} ${u.username}`}
                      kind={u.is_active ? 'danger' : 'secondary'}
                      onClick={() => {
                        toggle.setProblem(null);
                        setToggling(u);
                      }}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </TableRegion>
        )}
      </ListState>
      <Pager label="Users" cursors={cursors} next={page.data?.next_cursor} onPage={setCursors} />
      <ConfirmDialog
        open={!!toggling}
        title={toggling ? `${toggling.is_active ? 'Deactivate' : 'Reactivate'} ${toggling.username}?` : ''}
        confirmLabel={toggling?.is_active ? 'Deactivate' : 'Reactivate'}
        danger={toggling?.is_active}
        busy={toggle.busy}
        onCancel={() => {
          setToggling(null);
        }}
        onConfirm={() => {
          if (toggling) void toggle.run(toggling);
        }}
      >
        <p>
          {toggling?.is_active
            ? `${toggling.email} can no longer sign in, and every token they hold stops working at once. Their VMs are not touched.`
            : `${toggling?.email ?? ''} can sign in again.`}
        </p>
        <ProblemAlert problem={toggle.problem} />
      </ConfirmDialog>
      {quotas && (
        <QuotaDialog
          user={quotas}
          onClose={() => {
            setQuotas(null);
          }}
        />
      )}
      {adjusting && (
        <AdjustCredits
          user={adjusting}
          onClose={() => {
            setAdjusting(null);
          }}
          onDone={(balance) => {
            page.setData((p) => p && { ...p, items: p.items.map((u) => (u.id === adjusting.id ? { ...u, credits: balance } : u)) });
            setAdjusting(null);
          }}
        />
      )}
    </section>
  );
}

/** Amount + required reason, then a confirmation that shows the balance it leads to. */
function AdjustCredits({ user, onClose, onDone }: { user: User; onClose: () => void; onDone: (balance: number) => void }) {
  const [amount, setAmount] = useState('');
  const [reason, setReason] = useState('');
  const [step, setStep] = useState<'edit' | 'confirm'>('edit');
  const [key] = useState(idempotencyKey);
  const n = Number(amount);
  const valid = Number.isInteger(n) && n !== 0 && reason.trim().length > 0;
  const submit = useAction(async () => {
    const row = await call(
      api.POST('/api/admin/users/{id}/credits', {
        params: { path: { id: user.id }, header: { 'Idempotency-Key': key } },
        body: { amount: n, reason: reason.trim() },
      }),
    );
    onDone(row.balance_after);
  });
  return (
    <ConfirmDialog
      open
      title={step === 'edit' ? `Adjust credits of ${user.username}` : 'Confirm the adjustment'}
      confirmLabel={step === 'edit' ? 'Review' : submit.busy ? 'Applying…' : `Apply ${signed(n)} credits`}
      busy={submit.busy}
      onCancel={onClose}
      onConfirm={() => (step === 'edit' ? valid && setStep('confirm') : void submit.run())}
    >
      {step === 'edit' ? (
        <>
          <p>
            Current balance: <strong>{user.credits}</strong>
          </p>
          <div class="field">
            <label for="adjust-amount">Amount</label>
            <input
              id="adjust-amount"
              type="number"
              step={1}
              required
              aria-describedby="adjust-amount-hint"
              value={amount}
              onInput={(e) => {
                setAmount(e.currentTarget.value);
              }}
            />
            <small id="adjust-amount-hint" class="hint">
              Whole credits, not zero; negative deducts.
            </small>
          </div>
          <div class="field">
            <label for="adjust-reason">Reason</label>
            <textarea
              id="adjust-reason"
              required
              maxLength={500}
              rows={2}
              value={reason}
              onInput={(e) => {
                setReason(e.currentTarget.value);
              }}
            />
          </div>
        </>
      ) : (
        <>
          <p>
            {n > 0 ? 'Add' : 'Deduct'} <strong>{Math.abs(n)}</strong> credits {n > 0 ? 'to' : 'from'} <strong>{user.username}</strong> (
            {user.email}): balance {user.credits} → <strong data-testid="adjust-new-balance">{user.credits + n}</strong>.
          </p>
          <p>Reason: {reason}</p>
          <button
            type="button"
            class="secondary small"
            onClick={() => {
              setStep('edit');
            }}
            disabled={submit.busy}
          >
            Back
          </button>
        </>
      )}
      <ProblemAlert problem={submit.problem} />
    </ConfirmDialog>
  );
}
