import { useState } from 'preact/hooks';
import { Link, useLocation, useSearch } from 'wouter-preact';
import { api, call } from '../api';
import { ProblemAlert } from '../components/ui';
import { useAction, useTitle } from '../hooks';
import { previousUserId, signIn, signOutReason, type User } from '../session';

/**
 * Where a sign-in lands: the `next` path it started from (only a path of this console, never another
 * origin), unless that was another user's (the session that ended here was someone else's) or an
 * admin page for a user who is not one; then the signed-in user's home.
 */
function landing(search: string, user: User): string {
  const next = new URLSearchParams(search).get('next');
  const previous = previousUserId();
  if (!next || !next.startsWith('/') || next.startsWith('//')) return '/vms';
  if (previous && previous !== user.id) return '/vms';
  if (next.startsWith('/admin') && user.role !== 'admin') return '/vms';
  return next;
}

/** Signs in and goes where the sign-in lands (in the same task, so the signed-in shell never renders the sign-in path). */
async function logIn(email: string, password: string, search: string, navigate: (to: string, opts: { replace: boolean }) => void) {
  const token = await call(api.POST('/api/auth/login', { body: { email, password } }));
  // Who signed in, before the session starts (the console is not signed in yet: the header is set here).
  const user = await call(api.GET('/api/users/me', { headers: { Authorization: `Bearer ${token.access_token}` } }));
  const to = landing(search, user);
  signIn(token.access_token, token.expires_in, user);
  navigate(to, { replace: true });
}

export function SignIn() {
  useTitle('Sign in');
  const [, navigate] = useLocation();
  const search = useSearch();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const submit = useAction(async () => {
    await logIn(email, password, search, navigate);
  });
  const reason = signOutReason.value;
  return (
    <section class="auth-card" aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in</h1>
      {reason && (
        <p class="notice" role="status">
          {reason}
        </p>
      )}
      <form onSubmit={(e) => (e.preventDefault(), void submit.run())}>
        <div class="field">
          <label for="signin-email">Email</label>
          <input
            id="signin-email"
            type="email"
            autocomplete="username"
            required
            value={email}
            onInput={(e) => setEmail(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="signin-password">Password</label>
          <input
            id="signin-password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </div>
        <ProblemAlert problem={submit.problem} />
        <button type="submit" class="primary" disabled={submit.busy} aria-busy={submit.busy}>
          {submit.busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p>
        No account yet? <Link href={`/register${search ? `?${search}` : ''}`}>Register</Link>
      </p>
    </section>
  );
}

export function Register() {
  useTitle('Register');
  const [, navigate] = useLocation();
  const search = useSearch();
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const submit = useAction(async () => {
    await call(api.POST('/api/auth/register', { body: { username, email, password } }));
    await logIn(email, password, search, navigate);
  });
  return (
    <section class="auth-card" aria-labelledby="register-title">
      <h1 id="register-title">Create an account</h1>
      <form onSubmit={(e) => (e.preventDefault(), void submit.run())}>
        <div class="field">
          <label for="register-username">Username</label>
          <input
            id="register-username"
            autocomplete="username"
            required
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="register-email">Email</label>
          <input
            id="register-email"
            type="email"
            autocomplete="email"
            required
            value={email}
            onInput={(e) => setEmail(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="register-password">Password</label>
          <input
            id="register-password"
            type="password"
            autocomplete="new-password"
            required
            aria-describedby="register-password-hint"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
          <small id="register-password-hint" class="hint">
            At least 8 characters.
          </small>
        </div>
        <ProblemAlert problem={submit.problem} />
        <button type="submit" class="primary" disabled={submit.busy} aria-busy={submit.busy}>
          {submit.busy ? 'Creating account…' : 'Register'}
        </button>
      </form>
      <p>
        Already registered? <Link href={`/signin${search ? `?${search}` : ''}`}>Sign in</Link>
      </p>
    </section>
  );
}
