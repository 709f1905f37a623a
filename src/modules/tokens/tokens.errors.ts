import { API_SCOPES } from '../../common/auth';
import { defineErrors } from '../../common/error-catalog';

export const TOKEN_ERRORS = defineErrors({
  'token.not_found': { status: 404, title: 'API token not found' },
  'token.limit_reached': {
    status: 403,
    title: 'Too many API tokens',
    extensions: { limit: { type: 'integer', description: 'The most API tokens a user may hold', example: 50 } },
  },
  'token.scope_not_held': {
    status: 403,
    title: 'A token cannot hold a scope its creator does not have',
    extensions: {
      scopes: {
        type: 'array',
        items: { type: 'string', enum: [...API_SCOPES] },
        description: 'The requested scopes the caller does not hold',
      },
    },
  },
});
