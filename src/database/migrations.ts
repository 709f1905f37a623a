import { Initial1795636652019 } from '../../migrations/1795636652019-Initial';
import { Vms1795636933429 } from '../../migrations/1795636933429-Vms';
import { UsersCreatedIndex1795637456013 } from '../../migrations/1795637456013-UsersCreatedIndex';
import { IdempotencyKeys1795638474030 } from '../../migrations/1795638474030-IdempotencyKeys';
import { Metrics1795638497124 } from '../../migrations/1795638497124-Metrics';
import { UserQuotas1795640082483 } from '../../migrations/1795640082483-UserQuotas';
import { UsersIdentityNotify1795646889384 } from '../../migrations/1795646889384-UsersIdentityNotify';
import { SshKeys1795820756212 } from '../../migrations/1795820756212-SshKeys';
import { Hosts1795823222648 } from '../../migrations/1795823222648-Hosts';
import { IdempotencyAnswerWithWork1795823250000 } from '../../migrations/1795823250000-IdempotencyAnswerWithWork';
import { CreditsMaxBalance1795823287054 } from '../../migrations/1795823287054-CreditsMaxBalance';
import { TokenLifecycle1795830000000 } from '../../migrations/1795830000000-TokenLifecycle';
import { ApiTokens1796100000000 } from '../../migrations/1796100000000-ApiTokens';
import { Webhooks1796000000000 } from '../../migrations/1796000000000-Webhooks';
import { UserData1796200000000 } from '../../migrations/1796200000000-UserData';
import { Day2Operations1796300000000 } from '../../migrations/1796300000000-Day2Operations';
import { UserSearch1796400000000 } from '../../migrations/1796400000000-UserSearch';
import { PartitionedMetrics1796500000000 } from '../../migrations/1796500000000-PartitionedMetrics';
import { HostAllocatedRam1796600000000 } from '../../migrations/1796600000000-HostAllocatedRam';
import { VmsHostStatusIndex1796700000000 } from '../../migrations/1796700000000-VmsHostStatusIndex';
import { PeriodicRuns1796800000000 } from '../../migrations/1796800000000-PeriodicRuns';

/** Every migration in order, listed explicitly so the app, the CLI and tests agree. */
export const MIGRATIONS: Function[] = [
  Initial1795636652019,
  Vms1795636933429,
  UsersCreatedIndex1795637456013,
  IdempotencyKeys1795638474030,
  Metrics1795638497124,
  UserQuotas1795640082483,
  UsersIdentityNotify1795646889384,
  SshKeys1795820756212,
  Hosts1795823222648,
  IdempotencyAnswerWithWork1795823250000,
  CreditsMaxBalance1795823287054,
  TokenLifecycle1795830000000,
  Webhooks1796000000000,
  ApiTokens1796100000000,
  UserData1796200000000,
  Day2Operations1796300000000,
  UserSearch1796400000000,
  PartitionedMetrics1796500000000,
  HostAllocatedRam1796600000000,
  VmsHostStatusIndex1796700000000,
  PeriodicRuns1796800000000,
];
