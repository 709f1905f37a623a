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
    expect(allowedActions('running')).toEqual(['stop', 'restart', 'destroy']);
    expect(allowedActions('stopped')).toEqual(['start', 'destroy']);
    expect(allowedActions('failed')).toEqual(['destroy']);
    expect(allowedActions('destroyed')).toEqual([]);
  });

  it('has an operation for every transitional status and none for settled ones', () => {
    expect(TRANSITIONS.provisioning).toEqual({ op: 'up', done: 'running' });
    expect(TRANSITIONS.stopping).toEqual({ op: 'halt', done: 'stopped' });
    expect(TRANSITIONS.restarting).toEqual({ op: 'reload', done: 'running' });
    expect(TRANSITIONS.destroying).toEqual({ op: 'destroy', done: 'destroyed' });
    expect(TRANSITIONS.running).toBeUndefined();
    expect(TRANSITIONS.failed).toBeUndefined();
  });
});
