import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A host's VMs by status (issue 24): every host's reconcile and sampling pass reads its running and
 * stopped VMs (VmsRepository.byHost). The only index on "host" was placement's partial one, which that
 * read cannot use, so each pass scanned every running and stopped VM of the fleet through
 * vms_status_idx: hosts x VMs rows a minute (bench:fleet at 1,000 hosts: the largest share of
 * PostgreSQL's CPU).
 */
export class VmsHostStatusIndex1796700000000 implements MigrationInterface {
    name = 'VmsHostStatusIndex1796700000000'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE INDEX "vms_host_status_idx" ON "vms" ("host", "status") `);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP INDEX "public"."vms_host_status_idx"`);
    }

}
