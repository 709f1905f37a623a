import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { mapPage, PageOf, PageQueryDto } from '../../common/pagination';
import { ApiAuth, AuthUser, CurrentUser, RequireScope, Roles } from '../../common/auth';
import { CreditsService } from '../credits/credits.service';
import { CreditTransactionPage } from '../credits/dto/credit-transaction-response.dto';
import { CreditAdjustmentDto, CreditAuditDto } from '../credits/dto/credit-adjustment.dto';
import { CreditTransactionResponseDto, toCreditTransactionResponse } from '../credits/dto/credit-transaction-response.dto';
import { EventPage } from '../events/dto/event-response.dto';
import { EventsService } from '../events/events.service';
import { Idempotent, IdempotencyOf } from '../idempotency/idempotency.interceptor';
import type { IdempotentRequest } from '../idempotency/idempotency.service';
import { ListUsersQueryDto, UpdateUserDto } from '../users/dto/admin-user.dto';
import { AdminUserDetailDto } from './dto/admin-user-detail.dto';
import { toUserResponse, UserResponseDto } from '../users/dto/user-response.dto';
import { quotaOverridesOf, UsersService } from '../users/users.service';
import { toVmResponse } from '../vms/dto/vm-response.dto';
import { Vm } from '../vms/entities/vm.entity';
import { UuidPipe } from '../../common/uuid.pipe';
import { VmsService } from '../vms/vms.service';
import { AdminEventQueryDto, AdminVmActionDto, AdminVmQueryDto, AdminVmResponseDto } from './dto/admin.dto';
import { VM_ACTION_ERRORS } from '../vms/vm-action.errors';
import { USER_ERRORS } from '../users/users.errors';
import { CREDIT_ERRORS } from '../credits/credits.errors';

export const AdminVmPage = PageOf(AdminVmResponseDto);
export const UserPage = PageOf(UserResponseDto);

/**
 * Oversight over plain REST. Owns no tables: every route composes the services that the users, vms,
 * credits and events modules export. Every write records an admin event naming the actor.
 */
@ApiTags('admin')
@Roles('admin')
@Controller('admin')
export class AdminController {
  constructor(
    private readonly users: UsersService,
    private readonly vms: VmsService,
    private readonly credits: CreditsService,
    private readonly events: EventsService,
  ) {}

  /** Each VM with its owner: the page's owners are read in one extra query, not one per row. */
  private async withOwners(vms: Vm[]): Promise<AdminVmResponseDto[]> {
    const owners = await this.users.byIds(vms.map((v) => v.userId));
    return vms.map((vm) => {
      const o = owners.get(vm.userId);
      return {
        ...toVmResponse(vm),
        user_id: vm.userId,
        host: vm.host,
        owner: { id: vm.userId, username: o?.username ?? '', email: o?.email ?? '' },
      };
    });
  }

  @Get('vms')
  @RequireScope('admin:read')
  @ApiOperation({
    operationId: 'adminListVms',
    summary: 'Every user’s VMs, newest first, with their owners',
    description:
      'Every VM on the platform with its owner, filterable by status, user, OS, host and name prefix; cursor-paginated. Admins only.',
  })
  @ApiOkResponse({ type: AdminVmPage, description: 'A page of VMs of every user, newest first, each with its owner' })
  @ApiAuth()
  async listVms(@Query() query: AdminVmQueryDto) {
    const { limit, cursor, ...filter } = query;
    const page = await this.vms.list(filter, { limit, cursor });
    return { items: await this.withOwners(page.items), next_cursor: page.next_cursor };
  }

  @Post('vms/:id/action')
  @RequireScope('admin:write')
  @HttpCode(202)
  @ApiOperation({
    operationId: 'adminPerformVmAction',
    summary: 'Act on any user’s VM (asynchronous)',
    description:
      'Same state machine, host rules and queue as the owner’s action (start/restart/resize/rebuild on an offline host: 409 ' +
      'host.offline). Records an admin event with the admin, the owner and the reason. A resize charges the owner, as theirs would.',
  })
  @ApiAcceptedResponse({
    type: AdminVmResponseDto,
    description: 'Accepted: the VM in its transitional status; an admin event names the owner',
  })
  @ApiAuth(...VM_ACTION_ERRORS)
  async vmAction(@CurrentUser() admin: AuthUser, @Param('id', UuidPipe) id: string, @Body() dto: AdminVmActionDto) {
    const { action, reason, ...change } = dto;
    const vm = await this.vms.requestAction(id, action, { actor: admin, reason }, change);
    return (await this.withOwners([vm]))[0];
  }

  @Get('events')
  @RequireScope('admin:read')
  @ApiOperation({
    operationId: 'adminListEvents',
    summary: 'All audit events, newest first',
    description:
      'The audit log of every user and of the system, filterable by type, severity, time range, user and VM; cursor-paginated. Admins only.',
  })
  @ApiOkResponse({ type: EventPage, description: 'A page of events of every user, newest first' })
  @ApiAuth()
  listEvents(@Query() query: AdminEventQueryDto) {
    const { limit, cursor, ...filter } = query;
    return this.events.list(filter, { limit, cursor });
  }

  @Get('users')
  @RequireScope('admin:read')
  @ApiOperation({
    operationId: 'adminListUsers',
    summary: 'All users, newest first',
    description:
      'Every account with role, status and balance. `q` finds users whose email or username contains the text in any letter case; ' +
      'also filterable by role, activity and email or username prefix; cursor-paginated. Admins only.',
  })
  @ApiOkResponse({ type: UserPage, description: 'A page of users, newest first' })
  @ApiAuth()
  async listUsers(@Query() query: ListUsersQueryDto) {
    const { limit, cursor, ...filter } = query;
    const page = await this.users.list(filter, { limit, cursor });
    return mapPage(page, toUserResponse);
  }

  @Get('users/:id')
  @RequireScope('admin:read')
  @ApiOperation({
    operationId: 'adminGetUser',
    summary: 'One user with their balance and VM counts by status',
    description: 'One account with its balance, quotas and how many VMs it has in each status. Admins only.',
  })
  @ApiOkResponse({ type: AdminUserDetailDto, description: 'The user with VM counts by status and quota use' })
  @ApiAuth(USER_ERRORS.of('user.not_found'))
  async getUser(@Param('id', UuidPipe) id: string): Promise<AdminUserDetailDto> {
    const user = await this.users.get(id);
    const overrides = quotaOverridesOf(user);
    const [vmCounts, quota] = await Promise.all([this.vms.countByStatus(id), this.vms.quotaUsage(user.id, overrides)]);
    return { ...toUserResponse(user), vm_counts: vmCounts, quota, quota_overrides: overrides, quota_defaults: this.vms.quotaDefaults() };
  }

  @Patch('users/:id')
  @RequireScope('admin:write')
  @ApiOperation({
    operationId: 'adminUpdateUser',
    summary: 'Change a user’s role, active flag or quota overrides',
    description:
      'Admins cannot demote or deactivate themselves; the last active admin cannot be removed (409). ' +
      'Quota overrides: a number sets the limit (0 = none), null returns to the QUOTA_* default.',
  })
  @ApiOkResponse({ type: UserResponseDto, description: 'The user as updated' })
  @ApiAuth(USER_ERRORS.of('user.not_found', 'user.empty_update', 'user.self_demotion', 'user.last_admin'))
  async updateUser(@CurrentUser() admin: AuthUser, @Param('id', UuidPipe) id: string, @Body() dto: UpdateUserDto) {
    return toUserResponse(await this.users.adminUpdate(admin, id, dto));
  }

  @Post('users/:id/sign-out')
  @RequireScope('admin:write')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'adminSignOutUser',
    summary: 'Sign a user out everywhere',
    description:
      'Every token the user holds stops working at once in every API process and their open event streams end; ' +
      'recorded as an admin event. The account is otherwise unchanged (they can sign in again). API tokens are not affected.',
  })
  @ApiNoContentResponse({ description: 'The user’s tokens are ended' })
  @ApiAuth(USER_ERRORS.of('user.not_found'))
  async signOutUser(@CurrentUser() admin: AuthUser, @Param('id', UuidPipe) id: string): Promise<void> {
    await this.users.adminSignOut(admin, id);
  }

  @Post('users/:id/credits')
  @RequireScope('admin:write')
  @Idempotent()
  @ApiOperation({
    operationId: 'adminAdjustCredits',
    summary: 'Add or deduct credits',
    description: 'Writes an admin_adjustment ledger row and an admin event. A deduction below zero answers 409 and changes nothing.',
  })
  @ApiCreatedResponse({
    type: CreditTransactionResponseDto,
    description: 'The ledger row of the adjustment (its balance_after is the new balance)',
  })
  @ApiAuth(USER_ERRORS.of('user.not_found'), CREDIT_ERRORS.of('credits.invalid_amount', 'credits.balance_limit', 'credits.balance_too_low'))
  async adjustCredits(
    @CurrentUser() admin: AuthUser,
    @Param('id', UuidPipe) id: string,
    @Body() dto: CreditAdjustmentDto,
    @IdempotencyOf() idempotency?: IdempotentRequest,
  ) {
    return toCreditTransactionResponse(await this.credits.adjust(admin, id, dto.amount, dto.reason, idempotency));
  }

  @Get('users/:id/credits/transactions')
  @RequireScope('admin:read')
  @ApiOperation({
    operationId: 'adminListCreditTransactions',
    summary: 'One user’s credit ledger, newest first',
    description: 'The credit ledger of one user, as they see it themselves; cursor-paginated. Admins only.',
  })
  @ApiOkResponse({ type: CreditTransactionPage, description: 'A page of the user’s ledger rows, newest first' })
  @ApiAuth(USER_ERRORS.of('user.not_found'))
  async listTransactions(@Param('id', UuidPipe) id: string, @Query() page: PageQueryDto) {
    await this.users.get(id);
    return this.credits.listTransactions(id, page);
  }

  @Get('credits/audit')
  @RequireScope('admin:read')
  @ApiOperation({
    operationId: 'adminAuditCredits',
    summary: 'Users whose balance disagrees with their ledger',
    description: 'Expected: no mismatches. Compares each balance with the sum of the ledger and with the newest balance_after.',
  })
  @ApiOkResponse({ type: CreditAuditDto, description: 'Users whose balance disagrees with their ledger (none when all agree)' })
  @ApiAuth()
  audit(): Promise<CreditAuditDto> {
    return this.credits.audit();
  }
}
