import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { prepared } from '../database/prepared';
import { typedQueryOne, typedWrite } from '../database/typed-query';

/** The periodic_runs table: one row per periodic task, claimed once per interval. */
@Injectable()
export class PeriodicRunsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Claims a run of `name` if its last one started at least `minSeconds` ago and has finished (or
   * started more than `expireSeconds` ago: its process died); the first claim of a task inserts its
   * row. One statement: of processes claiming at once, the first takes the row and the others,
   * re-reading it after its lock, find it taken; a claim that is not due reads the row without
   * locking it. Returns the claim's start, or undefined.
   */
  async claim(name: string, runBy: string, minSeconds: number, expireSeconds: number): Promise<Date | undefined> {
    const row = await typedQueryOne<{ started_at: Date }>(
      this.dataSource,
      prepared(`WITH due AS (
          UPDATE periodic_runs SET started_at = now(), finished_at = NULL, run_by = $2
           WHERE name = $1 AND started_at <= now() - make_interval(secs => $3)
             AND (finished_at IS NOT NULL OR started_at <= now() - make_interval(secs => $4))
          RETURNING started_at),
        first AS (
          INSERT INTO periodic_runs (name, started_at, run_by)
          SELECT $1, now(), $2 WHERE NOT EXISTS (SELECT 1 FROM periodic_runs WHERE name = $1)
          ON CONFLICT (name) DO NOTHING
          RETURNING started_at)
        SELECT started_at FROM due UNION ALL SELECT started_at FROM first`),
      [name, runBy, minSeconds, expireSeconds],
    );
    return row?.started_at;
  }

  /** Marks the run claimed at `startedAt` finished (a run taken over after its expiry is left alone). */
  async finish(name: string, startedAt: Date): Promise<void> {
    await typedWrite(this.dataSource, prepared(`UPDATE periodic_runs SET finished_at = now() WHERE name = $1 AND started_at = $2`), [
      name,
      startedAt,
    ]);
  }
}
