import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { PageQueryDto } from '../../common/pagination';
import { ApiAuth, AuthUser, CurrentUser, RequireScope } from '../../common/auth';
import { CreditsService } from './credits.service';
import { CreditTransactionPage } from './dto/credit-transaction-response.dto';

@ApiTags('credits')
@Controller('credits')
export class CreditsController {
  constructor(private readonly credits: CreditsService) {}

  @Get('transactions')
  @RequireScope('credits:read')
  @ApiOperation({
    operationId: 'listCreditTransactions',
    summary: 'The caller’s credit ledger, newest first',
    description:
      'Every credit movement of yours (top-ups, VM charges, admin adjustments) with the balance after it; cursor-paginated (`next_cursor`).',
  })
  @ApiOkResponse({ type: CreditTransactionPage, description: 'A page of your ledger rows, newest first' })
  @ApiAuth()
  list(@CurrentUser() caller: AuthUser, @Query() page: PageQueryDto) {
    return this.credits.listTransactions(caller.id, page);
  }
}
