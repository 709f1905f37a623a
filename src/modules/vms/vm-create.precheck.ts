import { Injectable } from '@nestjs/common';
import { AppValidationPipe } from '../../common/validation.pipe';
import type { AuthUser } from '../../common/auth';
import type { PaymentPrecheck } from '../credits/credits.guard';
import { CreateVmDto } from './dto/vm.dto';
import { VmsService } from './vms.service';

/**
 * What POST /api/vms would refuse a body for, whatever the balance: the global pipe's validation of
 * CreateVmDto (400 with the same field errors), then VmsService.validateCreate (os_type, SSH keys,
 * quota, name). CreditsGuard runs it before answering 402.
 */
@Injectable()
export class VmCreatePrecheck implements PaymentPrecheck {
  private readonly pipe = new AppValidationPipe();

  constructor(private readonly vms: VmsService) {}

  async precheck(user: AuthUser, body: unknown): Promise<void> {
    const dto = (await this.pipe.transform(body, { type: 'body', metatype: CreateVmDto })) as CreateVmDto;
    await this.vms.validateCreate(user, dto);
  }
}
