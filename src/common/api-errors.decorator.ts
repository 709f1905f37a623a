import { applyDecorators } from '@nestjs/common';
import { QUOTA_RESOURCES, type QuotaResource } from '../modules/vms/quotas';
import { VM_ACTIONS, VM_STATUSES, type VmAction, type VmStatus } from '../modules/vms/vm-state';
import { ApiBearerAuth, ApiExtraModels, ApiProperty, ApiResponse, getSchemaPath } from '@nestjs/swagger';

/** RFC 9457 problem details, as every error answer carries them. */
export class ProblemDto {
  @ApiProperty({ example: 'https://vm-platform.dev/problems/vm.not_found' })
  type: string;

  @ApiProperty({ example: 'Not Found' })
  title: string;

  @ApiProperty({ example: 404 })
  status: number;

  @ApiProperty({ example: 'VM not found' })
  detail: string;

  /** Stable machine-readable code. */
  @ApiProperty({ example: 'vm.not_found' })
  code: string;

  @ApiProperty({ required: false, example: '/api/vms/8a0e...' })
  instance?: string;

  @ApiProperty({ required: false })
  request_id?: string;

  @ApiProperty({
    required: false,
    description: 'Per-field validation messages (400 only)',
    type: 'array',
    items: { type: 'object', properties: { field: { type: 'string' }, messages: { type: 'array', items: { type: 'string' } } } },
  })
  errors?: { field: string; messages: string[] }[];

  // Extension members some problems carry (RFC 9457 section 3.2):

  /** credits.insufficient: the price asked. */
  @ApiProperty({ required: false, example: 34 })
  cost?: number;

  /** credits.insufficient: the balance at the time. */
  @ApiProperty({ required: false, example: 20 })
  balance?: number;

  /** vm.invalid_transition: the VM's current status. */
  @ApiProperty({ required: false, enum: VM_STATUSES, enumName: 'VmStatus' })
  vm_status?: VmStatus;

  /** vm.invalid_transition: what the current status allows. */
  @ApiProperty({ required: false, enum: VM_ACTIONS, enumName: 'VmAction', isArray: true })
  allowed_actions?: VmAction[];

  /** quota.exceeded: which resource (vms, cpu_cores or ram_mb). */
  @ApiProperty({ required: false, enum: QUOTA_RESOURCES })
  resource?: QuotaResource;

  /** quota.exceeded: what the request needs of it. */
  @ApiProperty({ required: false })
  requested?: number;

  /** quota.exceeded: what is in use already. */
  @ApiProperty({ required: false })
  used?: number;

  /** quota.exceeded, ssh_key.limit_reached: the user's limit; events.too_many_streams: the streams a user may hold. */
  @ApiProperty({ required: false })
  limit?: number;

  /** credits.balance_limit: the largest balance a user may hold. */
  @ApiProperty({ required: false, example: 1_000_000_000 })
  max_balance?: number;

  /** request.invalid_text: where the refused text is (a body path, a query parameter, or "path"). */
  @ApiProperty({ required: false, example: 'metadata.note' })
  field?: string;

  /** vm.unknown_os_type: the catalog's os_type values. */
  @ApiProperty({ required: false, type: [String] })
  allowed_os_types?: string[];

  /** vm.unknown_ssh_key: the ssh_key_ids that are not keys of yours. */
  @ApiProperty({ required: false, type: [String] })
  ssh_key_ids?: string[];
}

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input (validation, unknown fields, malformed JSON)',
  401: 'Missing, invalid or expired bearer token',
  402: 'Not enough credits',
  403: 'Authenticated but not allowed',
  404: 'Not found (or not yours)',
  409: 'Conflicts with the current state',
  422: 'Idempotency-Key reused with a different request',
  429: 'Rate limit exceeded (see Retry-After)',
  503: 'The database is unavailable (service.unavailable); on VM creation also capacity.unavailable: no host has room (see Retry-After)',
};

/** Declares the problem+json error answers of a route (429 and 503, which any route can answer, included). */
export function ApiProblems(...statuses: number[]) {
  statuses = [...new Set([...statuses, 429, 503])];
  return applyDecorators(
    ApiExtraModels(ProblemDto),
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: DESCRIPTIONS[status] ?? 'Error',
        content: { 'application/problem+json': { schema: { $ref: getSchemaPath(ProblemDto) } } },
      }),
    ),
  );
}

/** A route that needs a bearer token: declares the security requirement and its 401. */
export function ApiAuth(...extraStatuses: number[]) {
  return applyDecorators(ApiBearerAuth(), ApiProblems(401, ...extraStatuses));
}
