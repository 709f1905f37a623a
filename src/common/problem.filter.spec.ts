import { describe, expect, it, jest } from '@jest/globals';
import { ArgumentsHost, Logger, NotFoundException } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import { defineErrors } from './error-catalog';
import { ProblemFilter } from './problem.filter';

/** A Fastify reply's surface as the filter uses it; `json` is the body it sent, parsed. */
function host(req: object) {
  const res = {
    sent: false,
    raw: { headersSent: false, writableEnded: false, end: jest.fn() },
    status: jest.fn(),
    type: jest.fn(),
    headers: jest.fn(),
    header: jest.fn(),
    send: jest.fn(),
    json: jest.fn(),
  };
  res.status.mockReturnValue(res);
  res.type.mockReturnValue(res);
  res.headers.mockReturnValue(res);
  res.header.mockReturnValue(res);
  res.send.mockImplementation((text: unknown) => res.json(JSON.parse(text as string)));
  return {
    res,
    host: { switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }) } as unknown as ArgumentsHost,
  };
}

const SPEC_ERRORS = defineErrors({ 'spec.insufficient': { status: 402, title: 'Not enough credits' } });

describe('ProblemFilter', () => {
  const req = { id: 'req-1', method: 'GET', url: '/api/vms/1?x=y' };

  it('turns an AppError into problem+json with its code and extensions', () => {
    const { res, host: h } = host(req);
    new ProblemFilter().catch(SPEC_ERRORS.error('spec.insufficient', 'Too poor', { cost: 34, balance: 1 }), h);
    expect(res.status).toHaveBeenCalledWith(402);
    expect(res.type).toHaveBeenCalledWith('application/problem+json; charset=utf-8');
    expect(res.json).toHaveBeenCalledWith({
      type: 'https://vm-platform.dev/problems/spec.insufficient',
      title: 'Not enough credits',
      status: 402,
      detail: 'Too poor',
      code: 'spec.insufficient',
      cost: 34,
      balance: 1,
      instance: '/api/vms/1',
      request_id: 'req-1',
    });
  });

  it('keeps Nest HTTP exceptions as their status', () => {
    const { res, host: h } = host(req);
    new ProblemFilter().catch(new NotFoundException(), h);
    expect(res.status).toHaveBeenCalledWith(404);
  });

  it('answers an unexpected error with a 500 that has no stack or message, and logs it with the request id', () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const { res, host: h } = host(req);
    new ProblemFilter().catch(new Error('SELECT secret FROM somewhere failed'), h);
    expect(res.status).toHaveBeenCalledWith(500);
    const body = res.json.mock.calls[0]![0] as Record<string, unknown>;
    expect(body).toMatchObject({ status: 500, code: 'internal.error', request_id: 'req-1' });
    expect(JSON.stringify(body)).not.toMatch(/SELECT|stack|at /);
    expect(error.mock.calls[0]![0]).toContain('req-1');
    error.mockRestore();
  });

  it('answers 503 when the database connection is refused', () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const { res, host: h } = host(req);
    new ProblemFilter().catch(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), h);
    expect(res.status).toHaveBeenCalledWith(503);
    expect(res.header).toHaveBeenCalledWith('Retry-After', '2');
  });

  it('answers 503 with Retry-After, not 500, to a write refused by a read-only standby and to EMFILE on connect', () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    for (const err of [
      new QueryFailedError(
        'INSERT INTO vms ...',
        [],
        Object.assign(new Error('cannot execute INSERT in a read-only transaction'), { code: '25006' }),
      ),
      Object.assign(new Error('connect EMFILE 127.0.0.1:5432 - Local (undefined:undefined)'), { code: 'EMFILE' }),
    ]) {
      const { res, host: h } = host(req);
      new ProblemFilter().catch(err, h);
      expect(res.status).toHaveBeenCalledWith(503);
      expect(res.header).toHaveBeenCalledWith('Retry-After', '2');
      expect(JSON.parse(res.send.mock.calls[0]![0] as string).code).toBe('service.unavailable');
    }
  });
});
