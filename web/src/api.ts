import { createVmPlatformClient, type components } from '@vm-platform/sdk';
import { currentToken, me, session, signOut } from './session';

export type Schemas = components['schemas'];
/** Every problem the API documents (one schema per code). */
export type ApiProblemBody = Schemas[Extract<keyof Schemas, `${string}Problem`>];
type FieldErrors = Schemas['RequestValidationProblem']['errors'];
/** What the console shows: an API problem, or one of its own (network down) in the same shape. */
export type Problem = Pick<ApiProblemBody, 'title' | 'detail'> & {
  status: number;
  code: string;
  errors?: FieldErrors;
  request_id?: string;
};
export type Vm = Schemas['VmResponseDto'];
export type VmStatus = Schemas['VmStatus'];
export type VmAction = Schemas['VmAction'];
export type VmEvent = Schemas['EventResponseDto'];

/** Every call goes through the generated SDK, same origin, with the session's bearer token. */
export const api = createVmPlatformClient({ baseUrl: window.location.origin, token: currentToken });

// A 401 on any authenticated call means the token is no longer good: back to sign-in.
api.use({
  onResponse({ request, response }) {
    if (response.status === 401 && request.headers.has('Authorization') && session.value) {
      signOut('Your session has ended. Sign in again.');
    }
    return response;
  },
});

/** An API answer that was not a success, carrying its problem+json body. */
export class ApiProblem extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title);
  }
}

function networkProblem(err: unknown): Problem {
  return {
    title: 'Network error',
    status: 0,
    code: 'network.unreachable',
    detail: `The server could not be reached (${err instanceof Error ? err.message : String(err)}). Check your connection and try again.`,
  };
}

function asProblem(error: unknown, response: Response): Problem {
  if (error && typeof error === 'object' && 'title' in error && 'code' in error) return error as ApiProblemBody;
  return {
    title: response.statusText || 'Request failed',
    status: response.status,
    code: 'http.error',
    detail: `The server answered ${response.status}.`,
  };
}

/**
 * Awaits an SDK call and returns its data, or throws an ApiProblem with the problem body.
 * Usage: `const vm = await call(api.GET('/api/vms/{id}', { params: { path: { id } } }))`.
 */
export async function call<T>(request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await request;
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiProblem(networkProblem(err));
  }
  if (result.error !== undefined || !result.response.ok) throw new ApiProblem(asProblem(result.error, result.response));
  return result.data as T;
}

export function problemOf(err: unknown): Problem | null {
  if (err instanceof ApiProblem) return err.problem;
  if (err instanceof DOMException && err.name === 'AbortError') return null;
  return { title: 'Something went wrong', status: 0, code: 'client.error', detail: err instanceof Error ? err.message : String(err) };
}

export async function refreshMe(): Promise<void> {
  if (!session.value) return;
  try {
    me.value = await call(api.GET('/api/users/me'));
  } catch {
    /* a 401 signs out in the middleware; anything else keeps the last known profile */
  }
}

/** A fresh key per user intent (a retried click is not a second VM). */
export function idempotencyKey(): string {
  // randomUUID exists only in secure contexts (https, localhost); a console on http://<lan-ip> has getRandomValues.
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}
