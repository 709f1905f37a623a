import { describe, expect, it } from '@jest/globals';
import { allowedActions, nextStatus, TRANSITIONS, VM_STATUSES } from './vm-state';

describe('VM state machine', () => {
  it('allows exactly the DESIGN.md transitions', () => {
    expect(nextStatus('running', 'stop')).toBe('stopping');
    expect(nextStatus('running', 'restart')).toBe('restarting');
    expect(nextStatus('stopped', 'start')).toBe('starting');
    expect(nextStatus('running', 'start')).toBeNull();
    expect(nextStatus('stopped', 'stop')).toBeNull();
    expect(nextStatus('provisioning', 'stop')).toBeNull();
  });

  it('allows destroy from every state but destroying and destroyed', () => {
    for (const s of VM_STATUSES) {
      expect(nextStatus(s, 'destroy')).toBe(s === 'destroyed' || s === 'destroying' ? null : 'destroying');
    }
  });

  it('lists allowed actions per status', () => {
    expect(allowedActions('running')).toEqual(['stop', 'restart', 'destroy', 'rebuild']);
    expect(allowedActions('stopped')).toEqual(['start', 'destroy', 'resize', 'rebuild']);
    expect(allowedActions('failed')).toEqual(['destroy']);
    expect(allowedActions('destroyed')).toEqual([]);
  });

  it('has an operation for every transitional status and none for settled ones', () => {
    expect(TRANSITIONS.provisioning).toEqual({ op: 'up', done: 'running' });
    expect(TRANSITIONS.stopping).toEqual({ op: 'halt', done: 'stopped' });
    expect(TRANSITIONS.restarting).toEqual({ op: 'reload', done: 'running' });
    expect(TRANSITIONS.destroying).toEqual({ op: 'destroy', done: 'destroyed' });
    expect(TRANSITIONS.resizing).toEqual({ op: 'resize', done: 'stopped' });
    expect(TRANSITIONS.rebuilding).toEqual({ op: 'rebuild', done: 'running' });
    expect(TRANSITIONS.restoring?.op).toBe('restore');
    expect(TRANSITIONS.running).toBeUndefined();
    expect(TRANSITIONS.failed).toBeUndefined();
  });

  it('resizes only stopped VMs (EC2’s rule) and rebuilds running or stopped ones', () => {
    expect(nextStatus('stopped', 'resize')).toBe('resizing');
    for (const s of VM_STATUSES.filter((x) => x !== 'stopped')) expect(nextStatus(s, 'resize')).toBeNull();
    expect(nextStatus('running', 'rebuild')).toBe('rebuilding');
    expect(nextStatus('stopped', 'rebuild')).toBe('rebuilding');
    for (const s of ['provisioning', 'failed', 'resizing', 'rebuilding', 'restoring', 'destroyed'] as const) {
      expect(nextStatus(s, 'rebuild')).toBeNull();
    }
  });

  it('allows nothing but destroy during a day-2 operation or a pending snapshot operation', () => {
    for (const s of ['resizing', 'rebuilding', 'restoring'] as const) expect(allowedActions(s)).toEqual(['destroy']);
    expect(allowedActions('running', 'snapshot_create')).toEqual(['destroy']);
    expect(allowedActions('stopped', 'snapshot_delete')).toEqual(['destroy']);
  });
});
