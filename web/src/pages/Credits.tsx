import { useState } from 'preact/hooks';
import { api, call, refreshMe, type Schemas } from '../api';
import { ListState, Pager, TableRegion } from '../components/ui';
import { useUserEvents } from '../events';
import { formatTime, signed } from '../format';
import { useLoad, useTitle } from '../hooks';
import { me } from '../session';

const KIND_LABELS: Record<Schemas['CreditKind'], string> = {
  signup_grant: 'Sign-up grant',
  vm_resize: 'VM resize',
  snapshot_create: 'Snapshot',
  vm_create: 'VM created',
  admin_adjustment: 'Adjustment by an admin',
  refund: 'Refund',
};

export function Credits() {
  useTitle('Credits');
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const ledger = useLoad(
    async (signal) => {
      void refreshMe();
      return call(api.GET('/api/credits/transactions', { params: { query: { limit: 20, cursor } }, signal }));
    },
    [cursor],
  );
  useUserEvents((e) => {
    if (!cursor && (e.action.startsWith('system.credit') || e.action === 'admin.credit_adjustment')) ledger.reload();
  });
  return (
    <section aria-labelledby="credits-title">
      <h1 id="credits-title">Credits</h1>
      <p class="balance">
        Balance: <strong data-testid="credits-balance">{me.value ? me.value.credits : '…'}</strong> credits
      </p>
      <h2>Ledger</h2>
      <ListState state={ledger} empty={<p class="empty">No transactions yet.</p>}>
        {(items) => <Ledger rows={items} />}
      </ListState>
      <Pager label="Ledger" cursors={cursors} next={ledger.data?.next_cursor} onPage={setCursors} />
    </section>
  );
}

export function Ledger({ rows }: { rows: Schemas['CreditTransactionResponseDto'][] }) {
  return (
    <TableRegion
      label="Credit transactions"
      columns={['When', 'What', { label: 'Amount', num: true }, { label: 'Balance after', num: true }, 'Reason']}
    >
      <tbody>
        {rows.map((t) => (
          <tr key={t.id}>
            <td>{formatTime(t.created_at)}</td>
            <td>{KIND_LABELS[t.kind] ?? t.kind}</td>
            <td class={`num ${t.amount < 0 ? 'negative' : 'positive'}`}>{signed(t.amount)}</td>
            <td class="num">{t.balance_after}</td>
            <td>{t.reason ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </TableRegion>
  );
}
