import { defineErrors } from '../error-catalog';

/**
 * What every protected route may answer: no bearer token, a token that is not (or no longer) valid, an
 * expired one (401, each with the RFC 6750 WWW-Authenticate challenge: see bearerChallenge), or a role
 * that may not use the route (403).
 */
export const ACCESS_ERRORS = defineErrors({
  'auth.token_missing': { status: 401, title: 'No bearer token', headers: ['WWW-Authenticate'] },
  'auth.token_invalid': { status: 401, title: 'The bearer token is not valid', headers: ['WWW-Authenticate'] },
  'auth.token_expired': { status: 401, title: 'The bearer token has expired', headers: ['WWW-Authenticate'] },
  'auth.forbidden': { status: 403, title: 'Your role may not use this route' },
});

/** The realm of every challenge (RFC 6750 section 3). */
export const AUTH_REALM = 'vm-platform';

/**
 * The 401 for a request without a usable bearer token, with its WWW-Authenticate challenge
 * (RFC 6750 section 3): a request with no token gets the bare challenge and no error code (3.1);
 * an invalid, revoked or expired one gets `error="invalid_token"` and a description.
 */
export function unauthenticated(reason: 'missing' | 'invalid' | 'expired', detail: string) {
  const challenge =
    reason === 'missing'
      ? `Bearer realm="${AUTH_REALM}"`
      : // error_description: printable ASCII other than " and \ (RFC 6750 section 3).
        `Bearer realm="${AUTH_REALM}", error="invalid_token", error_description="${detail.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '')}"`;
  return ACCESS_ERRORS.error(`auth.token_${reason}`, detail, {}, { 'WWW-Authenticate': challenge });
}
