import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { Link, Redirect, Route, Switch, useLocation } from 'wouter-preact';
import { api, refreshMe } from './api';
import { liveState, startUserStream, useUserEvents } from './events';
import { isAdmin, me, restoring, session, signOut } from './session';
import { SignIn, Register } from './pages/Auth';
import { VmList } from './pages/VmList';
import { LaunchVm } from './pages/LaunchVm';
import { VmDetails } from './pages/VmDetails';
import { Credits } from './pages/Credits';
import { SshKeys } from './pages/SshKeys';
import { Tokens } from './pages/Tokens';
import { Webhooks } from './pages/Webhooks';
import { AdminVms } from './pages/admin/AdminVms';
import { AdminUsers } from './pages/admin/AdminUsers';
import { AdminEvents } from './pages/admin/AdminEvents';
import { AdminHosts } from './pages/admin/AdminHosts';
import { NotFound } from './pages/NotFound';
import { Spinner } from './components/ui';

/** Events that change the signed-in user's balance. */
const BALANCE_ACTIONS = new Set(['system.credit_deduction', 'system.credit_grant', 'admin.credit_adjustment']);

function NavLink({ href, children }: { href: string; children: ComponentChildren }) {
  const [location] = useLocation();
  const current = location === href || (href !== '/' && location.startsWith(`${href}/`) && !(href === '/vms' && location === '/vms/new'));
  return (
    <Link href={href} aria-current={current ? 'page' : undefined}>
      {children}
    </Link>
  );
}

function SignedInShell({ children }: { children: ComponentChildren }) {
  useEffect(() => {
    void refreshMe();
    return startUserStream();
  }, []);
  useUserEvents((e) => {
    if (BALANCE_ACTIONS.has(e.action)) void refreshMe();
  });
  const user = me.value;
  const live = liveState.value;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href="/vms" class="brand">
          VM Platform
        </Link>
        <nav aria-label="Main">
          <NavLink href="/vms">VMs</NavLink>
          <NavLink href="/vms/new">Launch</NavLink>
          <NavLink href="/credits">Credits</NavLink>
          <NavLink href="/ssh-keys">SSH keys</NavLink>
          <NavLink href="/tokens">API tokens</NavLink>
          <NavLink href="/webhooks">Webhooks</NavLink>
          {isAdmin.value && (
            <>
              <NavLink href="/admin/vms">All VMs</NavLink>
              <NavLink href="/admin/users">Users</NavLink>
              <NavLink href="/admin/events">Events</NavLink>
              <NavLink href="/admin/hosts">Hosts</NavLink>
            </>
          )}
        </nav>
        <div class="account">
          <span class={`live live-${live}`} title={`Live updates: ${live}`}>
            <span aria-hidden="true">●</span> {live === 'live' ? 'Live' : live === 'closed' ? 'Offline' : 'Connecting…'}
          </span>
          {user && (
            <span class="whoami">
              {user.username} · <span data-testid="balance">{user.credits}</span> credits
            </span>
          )}
          <button type="button" class="secondary small" onClick={() => void api.POST('/api/auth/logout').finally(() => signOut())}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}

/**
 * On client-side navigation (not the first load, which the browser announces itself) focus moves to
 * the new page's h1, so a screen reader announces it and Tab continues from there. A page that is
 * still loading gets focus on its heading when the heading appears.
 */
function useFocusHeading(location: string): void {
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const main = document.getElementById('main');
    if (!main) return;
    const focus = (): boolean => {
      const h1 = main.querySelector('h1');
      if (!h1) return false;
      if (!h1.hasAttribute('tabindex')) h1.tabIndex = -1;
      h1.focus();
      return true;
    };
    if (focus()) return;
    const observer = new MutationObserver(() => {
      if (focus()) observer.disconnect();
    });
    observer.observe(main, { childList: true, subtree: true });
    const timer = setTimeout(() => {
      observer.disconnect();
    }, 10_000);
    return () => {
      observer.disconnect();
      clearTimeout(timer);
    };
  }, [location]);
}

function AdminOnly({ children }: { children: ComponentChildren }) {
  if (!me.value) return null; // profile still loading
  return isAdmin.value ? <>{children}</> : <NotFound />;
}

export function App() {
  const [location] = useLocation();
  useFocusHeading(location);
  if (restoring.value) {
    return (
      <main id="main" class="auth-main">
        <Spinner label="Opening your session…" />
      </main>
    );
  }
  if (!session.value) {
    return (
      <main id="main" class="auth-main">
        <Switch>
          <Route path="/register" component={Register} />
          <Route path="/signin" component={SignIn} />
          <Route>
            <Redirect to={`/signin${location !== '/' && location !== '/signin' ? `?next=${encodeURIComponent(location)}` : ''}`} replace />
          </Route>
        </Switch>
      </main>
    );
  }
  return (
    <SignedInShell>
      <Switch>
        <Route path="/">
          <Redirect to="/vms" replace />
        </Route>
        <Route path="/signin">
          <Redirect to="/vms" replace />
        </Route>
        <Route path="/register">
          <Redirect to="/vms" replace />
        </Route>
        <Route path="/vms" component={VmList} />
        <Route path="/vms/new" component={LaunchVm} />
        <Route path="/vms/:id">{(params) => <VmDetails id={params.id} />}</Route>
        <Route path="/credits" component={Credits} />
        <Route path="/ssh-keys" component={SshKeys} />
        <Route path="/tokens" component={Tokens} />
        <Route path="/webhooks" component={Webhooks} />
        <Route path="/admin/vms">
          <AdminOnly>
            <AdminVms />
          </AdminOnly>
        </Route>
        <Route path="/admin/users">
          <AdminOnly>
            <AdminUsers />
          </AdminOnly>
        </Route>
        <Route path="/admin/events">
          <AdminOnly>
            <AdminEvents />
          </AdminOnly>
        </Route>
        <Route path="/admin/hosts">
          <AdminOnly>
            <AdminHosts />
          </AdminOnly>
        </Route>
        <Route component={NotFound} />
      </Switch>
    </SignedInShell>
  );
}
