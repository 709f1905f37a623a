import { computed, signal } from '@preact/signals';
import type { components } from '@vm-platform/sdk';

export type User = components['schemas']['UserResponseDto'];

interface Session {
  token: string;
  /** Epoch ms when the token stops being accepted. */
  expiresAt: number;
  /** Names this sign-in between tabs (never the token). */
  id: string;
  /** Whose session it is: signing in as someone else does not resume the previous user's page. */
  userId?: string;
}

/**
 * The bearer token lives in memory and in sessionStorage (this tab only: it survives a reload, not the
 * tab). A new tab asks the console's open tabs for their session over a BroadcastChannel, which only
 * pages of this origin can join, so a session lasts while one tab of it is open. No cookie carries it
 * (nothing for another site to send along), nothing in localStorage; it is sent only in the
 * Authorization header: never in a URL, never logged. Signing out in one tab signs out every tab of
 * that sign-in.
 */
const KEY = 'vm-platform.session';
/** The user id of the session that ended in this tab (not the token): the next sign-in lands home if it is someone else. */
const PREVIOUS_USER = 'vm-platform.previous-user';
/** How long a new tab waits for an open tab to answer before it asks to sign in. */
const ASK_MS = 400;

type Message = { type: 'ask' } | { type: 'session'; session: Session } | { type: 'signout'; id: string };

function valid(s: Session | null | undefined): s is Session {
  return !!s && typeof s.token === 'string' && typeof s.expiresAt === 'number' && s.expiresAt > Date.now();
}

function restore(): Session | null {
  try {
    // A session saved before sign-ins had an id gets one.
    const saved = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as (Omit<Session, 'id'> & { id?: string }) | null;
    return saved && valid({ id: '', ...saved }) ? { ...saved, id: saved.id ?? randomId() } : null;
  } catch {
    return null;
  }
}

function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');
}

const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('vm-platform.session') : null;
const restored = restore();

export const session = signal<Session | null>(restored);
/** True while a new tab waits for an open tab's session (the console shows neither sign-in nor a page). */
export const restoring = signal(!restored && channel !== null);
/** The signed-in user (GET /api/users/me), refreshed after anything that changes the balance. */
export const me = signal<User | null>(null);
/** Why the user was sent back to sign-in, shown there once. */
export const signOutReason = signal<string | null>(null);
export const isAdmin = computed(() => me.value?.role === 'admin');

let expiryTimer: ReturnType<typeof setTimeout> | undefined;

function watchExpiry(s: Session | null): void {
  clearTimeout(expiryTimer);
  // setTimeout fires at once for delays past 2^31-1 ms; tokens that long-lived need no timer.
  if (s && s.expiresAt - Date.now() < 2 ** 31 - 1) {
    expiryTimer = setTimeout(() => signOut('Your session expired. Sign in again.'), Math.max(0, s.expiresAt - Date.now()));
  }
}

function adopt(s: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(s));
  signOutReason.value = null;
  session.value = s;
  watchExpiry(s);
}

function end(reason: string | null): void {
  const ended = session.value;
  if (ended?.userId) sessionStorage.setItem(PREVIOUS_USER, ended.userId);
  sessionStorage.removeItem(KEY);
  clearTimeout(expiryTimer);
  signOutReason.value = reason;
  me.value = null;
  session.value = null;
}

if (channel) {
  channel.onmessage = (e: MessageEvent<Message>) => {
    const m = e.data;
    const current = session.value;
    if (m.type === 'ask' && valid(current)) channel.postMessage({ type: 'session', session: current } satisfies Message);
    // An answer to this tab's question, or a sign-in in another tab while this one has none.
    else if (m.type === 'session' && !current && valid(m.session)) {
      restoring.value = false;
      adopt(m.session);
    } else if (m.type === 'signout' && current?.id === m.id) end('You were signed out in another tab.');
  };
  if (restoring.value) {
    channel.postMessage({ type: 'ask' } satisfies Message);
    setTimeout(() => (restoring.value = false), ASK_MS);
  }
}
watchExpiry(session.value);

export function currentToken(): string | undefined {
  const s = session.value;
  return s && s.expiresAt > Date.now() ? s.token : undefined;
}

/** The user whose session last ended in this tab, if any. */
export function previousUserId(): string | null {
  return sessionStorage.getItem(PREVIOUS_USER);
}

export function signIn(token: string, expiresInSeconds: number, user?: User): void {
  const s: Session = { token, expiresAt: Date.now() + expiresInSeconds * 1000, id: randomId(), userId: user?.id };
  sessionStorage.removeItem(PREVIOUS_USER);
  if (user) me.value = user;
  restoring.value = false;
  adopt(s);
  channel?.postMessage({ type: 'session', session: s } satisfies Message);
}

export function signOut(reason: string | null = null): void {
  const ended = session.value;
  end(reason);
  if (ended) channel?.postMessage({ type: 'signout', id: ended.id } satisfies Message);
}
