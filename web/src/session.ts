import { computed, signal } from '@preact/signals';
import type { components } from '@vm-platform/sdk';

export type User = components['schemas']['UserResponseDto'];

interface Session {
  token: string;
  /** Epoch ms when the token stops being accepted. */
  expiresAt: number;
}

/**
 * The bearer token lives in memory and in sessionStorage (this tab only, gone when the tab closes,
 * survives a reload). It is sent only in the Authorization header: never in a URL, never logged.
 */
const KEY = 'vm-platform.session';

function restore(): Session | null {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Session | null;
    return saved && typeof saved.token === 'string' && saved.expiresAt > Date.now() ? saved : null;
  } catch {
    return null;
  }
}

export const session = signal<Session | null>(restore());
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
watchExpiry(session.value);

export function currentToken(): string | undefined {
  const s = session.value;
  return s && s.expiresAt > Date.now() ? s.token : undefined;
}

export function signIn(token: string, expiresInSeconds: number): void {
  const s = { token, expiresAt: Date.now() + expiresInSeconds * 1000 };
  sessionStorage.setItem(KEY, JSON.stringify(s));
  signOutReason.value = null;
  session.value = s;
  watchExpiry(s);
}

export function signOut(reason: string | null = null): void {
  sessionStorage.removeItem(KEY);
  clearTimeout(expiryTimer);
  signOutReason.value = reason;
  me.value = null;
  session.value = null;
}
