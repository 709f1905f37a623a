import { checkEventPatterns, matchesEventPatterns } from './event-patterns';

describe('event patterns', () => {
  it('accepts event types, areas and *', () => {
    expect(checkEventPatterns(['vm.provisioned', 'vm.*', 'system.*', 'auth.*', 'admin.*', 'webhook.disabled', '*'])).toEqual([]);
  });

  it('names unknown types and areas, and malformed patterns', () => {
    expect(checkEventPatterns(['vm.exploded', 'credits.*', 'vm.pro*', 'VM.create', 'vm', '*.create', ''])).toEqual([
      { pattern: 'vm.exploded', reason: 'unknown_event_type' },
      { pattern: 'credits.*', reason: 'unknown_event_type' },
      { pattern: 'vm.pro*', reason: 'invalid_pattern' },
      { pattern: 'VM.create', reason: 'invalid_pattern' },
      { pattern: 'vm', reason: 'invalid_pattern' },
      { pattern: '*.create', reason: 'invalid_pattern' },
      { pattern: '', reason: 'invalid_pattern' },
    ]);
  });

  it('matches as the outbox trigger does', () => {
    expect(matchesEventPatterns(['vm.*'], 'vm.create')).toBe(true);
    expect(matchesEventPatterns(['vm.*'], 'vmx.create')).toBe(false);
    expect(matchesEventPatterns(['vm.create'], 'vm.created')).toBe(false);
    expect(matchesEventPatterns(['*'], 'admin.bootstrap')).toBe(true);
  });
});
