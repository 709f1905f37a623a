import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { PageQueryDto } from '../../../common/pagination';
import { HOSTNAME_LABEL_RE } from '../providers/vagrantfile';
import { VM_ACTIONS, VM_STATUSES, type VmAction, type VmStatus } from '../vm-state';
import { IsMetadata, KeepRawObject, METADATA_MAX_BYTES, METADATA_MAX_KEYS } from './metadata.validator';

/** SSH keys one VM can be created with. */
export const VM_MAX_SSH_KEYS = 20;

/** The largest user data, in bytes (UTF-8). */
export const USER_DATA_MAX_BYTES = 64 * 1024;

/** VM names become the guest's hostname. */
export const VM_NAME_PATTERN = HOSTNAME_LABEL_RE;

/** The sizing fields shared by create and quota-check. */
export class VmSpecDto {
  /** Memory in MiB. */
  @IsInt()
  @Min(512)
  @Max(65536)
  @ApiProperty({ type: 'integer', example: 1024, minimum: 512, maximum: 65536 })
  ram_mb: number;

  /** Disk size in GB. */
  @IsInt()
  @Min(10)
  @Max(2048)
  @ApiProperty({ type: 'integer', example: 20, minimum: 10, maximum: 2048 })
  disk_gb: number;

  @IsInt()
  @Min(1)
  @Max(32)
  @ApiProperty({ type: 'integer', example: 2, minimum: 1, maximum: 32 })
  cpu_cores: number;
}

export class QuotaCheckDto extends VmSpecDto {
  /** Optional; checked against the OS catalog when given. */
  @IsOptional()
  @IsString()
  @MaxLength(32)
  @ApiProperty({ required: false, example: 'ubuntu-22.04' })
  os_type?: string;
}

export class CreateVmDto extends VmSpecDto {
  /** A hostname label: lowercase letters, digits and inner hyphens, 1-63 characters. Unique among your VMs that are not destroyed. */
  @IsString()
  @Matches(VM_NAME_PATTERN, { message: 'name must be a hostname label: a-z, 0-9 and inner hyphens, 1 to 63 characters' })
  @ApiProperty({ example: 'demo-1', pattern: VM_NAME_PATTERN.source, maxLength: 63 })
  name: string;

  /** One of the catalog's operating systems (GET /api/vms/os-types lists them). */
  @IsString()
  @MaxLength(32)
  @ApiProperty({ example: 'ubuntu-22.04' })
  os_type: string;

  @IsOptional()
  @IsMetadata({ allowNullValues: false })
  @KeepRawObject()
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: `Free-form JSON object: at most ${METADATA_MAX_KEYS} keys and ${METADATA_MAX_BYTES} bytes`,
    example: { team: 'web', env: 'staging' },
  })
  metadata?: Record<string, unknown>;

  /**
   * Ids of your SSH keys (POST /api/ssh-keys) to install for the login user (`ssh_user`) on first boot.
   * The VM keeps a copy: deleting a key later changes no VM. 400 vm.unknown_ssh_key for an id that is not one of yours.
   */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(VM_MAX_SSH_KEYS)
  @ArrayUnique({ message: 'ssh_key_ids must not repeat an id' })
  @IsUUID('all', { each: true })
  // Example: none (a made-up id would be refused: 400 vm.unknown_ssh_key), so Swagger UI's "Try it out" body works as written.
  @ApiPropertyOptional({ type: [String], format: 'uuid', maxItems: VM_MAX_SSH_KEYS, uniqueItems: true, example: [] })
  ssh_key_ids?: string[];

  /**
   * A script run once as root at the VM's first boot, after the SSH keys are installed: at most 64 KiB
   * (UTF-8), starting with a `#!` line (400 vm.user_data_too_large / vm.user_data_not_script). The VM is
   * `running` once you can log in; `user_data_status` then tells how the script went, and the event
   * `vm.user_data_finished` has its exit code and last lines of output. Never shown again, to anyone.
   */
  @IsOptional()
  @IsString()
  @ApiPropertyOptional({ example: '#!/bin/sh\necho hello > /etc/motd\n', maxLength: USER_DATA_MAX_BYTES })
  user_data?: string;
}

export class UpdateVmDto {
  /**
   * A new name: create's rules (a hostname label, unique among your VMs that are not destroyed; 409
   * vm.name_taken otherwise). The guest's hostname follows at its next start, restart or rebuild.
   */
  @IsOptional()
  @IsString()
  @Matches(VM_NAME_PATTERN, { message: 'name must be a hostname label: a-z, 0-9 and inner hyphens, 1 to 63 characters' })
  @ApiPropertyOptional({ example: 'demo-2', pattern: VM_NAME_PATTERN.source, maxLength: 63 })
  name?: string;

  @IsOptional()
  @IsMetadata({ allowNullValues: true })
  @KeepRawObject()
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'Merged into the VM’s metadata; a key set to null is removed',
    example: { owner: 'ops', env: null },
  })
  metadata?: Record<string, unknown>;
}

/**
 * An action and, for resize and rebuild, what they change. A field another action does not take
 * (ram_mb with start, os_type with resize...) answers 400 vm.invalid_action_body, as does a resize
 * without any size (VmActionsService checks the combination; each field's own rules are here).
 */
export class VmActionDto {
  @IsIn(VM_ACTIONS)
  @ApiProperty({ enum: VM_ACTIONS, enumName: 'VmAction' })
  action: VmAction;

  /** resize only: the new memory in MiB (default: unchanged). */
  @IsOptional()
  @IsInt()
  @Min(512)
  @Max(65536)
  @ApiPropertyOptional({ type: 'integer', example: 2048, minimum: 512, maximum: 65536 })
  ram_mb?: number;

  /** resize only: the new core count (default: unchanged). */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(32)
  @ApiPropertyOptional({ type: 'integer', example: 3, minimum: 1, maximum: 32 })
  cpu_cores?: number;

  /** resize only: the new disk size in GB, at least the current one (a disk only grows; default: unchanged). */
  @IsOptional()
  @IsInt()
  @Min(10)
  @Max(2048)
  @ApiPropertyOptional({ type: 'integer', example: 30, minimum: 10, maximum: 2048 })
  disk_gb?: number;

  /** rebuild only: reinstall from this OS (GET /api/vms/os-types) instead of the VM's own. */
  @IsOptional()
  @IsString()
  @MaxLength(32)
  @ApiPropertyOptional({ example: 'debian-12' })
  os_type?: string;
}

/** What resize and rebuild change: the action body's optional fields. */
export type VmActionChange = Omit<VmActionDto, 'action'>;

export class ListVmsQueryDto extends PageQueryDto {
  @IsOptional()
  @IsIn(VM_STATUSES)
  @ApiProperty({ enum: VM_STATUSES, enumName: 'VmStatus', required: false })
  status?: VmStatus;

  /** Include destroyed VMs (hidden by default). */
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean()
  @ApiProperty({ required: false, default: false })
  include_destroyed?: boolean;

  /** VMs whose name starts with this, in any case (names are lowercase: the prefix is lowercased). */
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.toLowerCase() : value))
  @Matches(/^[a-z0-9-]{1,63}$/, { message: 'name_prefix must be letters, digits or hyphens, 1 to 63 characters' })
  @ApiProperty({ required: false, minLength: 1, maxLength: 63, pattern: '^[A-Za-z0-9-]{1,63}$', example: 'web' })
  name_prefix?: string;
}

export class QuotaResponseDto {
  @ApiProperty({ type: 'integer', example: 34 })
  cost: number;

  @ApiProperty({ type: 'integer', example: 100 })
  balance: number;

  sufficient: boolean;

  /** The balance after paying the cost (negative when not sufficient). */
  @ApiProperty({ type: 'integer', example: 66 })
  balance_after: number;
}

export class OsTypesResponseDto {
  /** os_type values accepted by create. */
  @ApiProperty({ example: ['debian-12', 'rocky-9', 'ubuntu-22.04', 'ubuntu-24.04'] })
  os_types: string[];
}
