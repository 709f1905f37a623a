import { ApiProperty } from '@nestjs/swagger';

export class HealthResponseDto {
  @ApiProperty({ enum: ['ok', 'degraded'] })
  status: 'ok' | 'degraded';

  @ApiProperty({ enum: ['up', 'down'] })
  database: 'up' | 'down';

  @ApiProperty({ enum: ['up', 'down', 'off'], description: '`off` when this process runs no queue' })
  queue: 'up' | 'down' | 'off';

  @ApiProperty({ example: '0.1.0' })
  version: string;

  /** Seconds since this process started. */
  @ApiProperty({ type: 'integer' })
  uptime_seconds: number;
}

/** How many hosts there are, and how many are online and schedulable (admin health). */
export class HealthHostsDto {
  @ApiProperty({ type: 'integer', minimum: 0, example: 1 })
  total: number;

  @ApiProperty({ type: 'integer', minimum: 0, example: 1 })
  online: number;

  @ApiProperty({ type: 'integer', minimum: 0, example: 0 })
  offline: number;

  /** Online and not drained: where a new VM can be placed. */
  @ApiProperty({ type: 'integer', minimum: 0, example: 1 })
  schedulable: number;
}

/** The public health with what only an admin sees: the provider, why it was chosen, and the hosts. */
export class AdminHealthResponseDto extends HealthResponseDto {
  /** The VM provider this process runs: `vagrant`, `simulator`, or `none` (a process without one). */
  @ApiProperty({ enum: ['vagrant', 'simulator', 'none'], example: 'simulator' })
  provider: 'vagrant' | 'simulator' | 'none';

  /** VM_PROVIDER as set (`auto` chooses at boot); null when not known. */
  @ApiProperty({ enum: ['auto', 'vagrant', 'simulator'], nullable: true, example: 'auto' })
  provider_requested: 'auto' | 'vagrant' | 'simulator' | null;

  /** Why this provider: what VM_PROVIDER=auto found on the machine, or the setting that forced it; null when not known. */
  @ApiProperty({
    type: String,
    nullable: true,
    example:
      'no libvirt box generic/debian12 (vagrant box add); no usable /dev/kvm (set VAGRANT_LIBVIRT_DRIVER=qemu for software emulation)',
  })
  provider_reason: string | null;

  /** This process's HOST_NAME. */
  @ApiProperty({ example: 'node-1' })
  host: string;

  /** Hosts by status; null when the database is down. */
  @ApiProperty({ type: HealthHostsDto, nullable: true })
  hosts: HealthHostsDto | null;
}

export class ApiIndexLinksDto {
  /** Swagger UI. */
  @ApiProperty({ example: '/api/docs' })
  docs: string;

  /** The OpenAPI 3 document (JSON). */
  @ApiProperty({ example: '/api/docs-json' })
  openapi: string;

  @ApiProperty({ example: '/api/health' })
  health: string;
}

export class ApiIndexDto {
  @ApiProperty({ example: 'VM Platform API' })
  name: string;

  @ApiProperty({ example: '0.1.0' })
  version: string;

  links: ApiIndexLinksDto;
}

/** The fields of a response class as a plain object type: what the service builds (the classes only describe the document). */
type Fields<T> = { [K in keyof T]: T[K] };
export type HealthReport = Fields<HealthResponseDto>;
export type AdminHealthReport = Fields<Omit<AdminHealthResponseDto, 'hosts'>> & { hosts: Fields<HealthHostsDto> | null };
