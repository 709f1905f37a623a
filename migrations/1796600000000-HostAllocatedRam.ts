import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Placement's shortlist (issue 24): what a host's VMs hold in RAM, kept on its row. Placement adds to
 * it in the create's transaction and every heartbeat recomputes it exactly, so it orders the hosts
 * without summing every VM of every host on each create; the exact sums still decide whether a VM fits.
 */
export class HostAllocatedRam1796600000000 implements MigrationInterface {
    name = 'HostAllocatedRam1796600000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "hosts" ADD "allocated_ram_mb" bigint NOT NULL DEFAULT '0'`);
        await queryRunner.query(`UPDATE "hosts" h SET "allocated_ram_mb" = (SELECT COALESCE(sum(ram_mb), 0) FROM "vms"
          WHERE host = h.name AND status <> 'destroyed' AND released_at IS NULL)`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "hosts" DROP COLUMN "allocated_ram_mb"`);
    }

}
