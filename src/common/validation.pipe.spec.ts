import { IsInt, IsOptional, IsString, Min } from 'class-validator';
import { AppValidationPipe } from './validation.pipe';
import { ValidationFailedException } from './problem.filter';
import { AppError } from './error-catalog';

class OptionalOnly {
  @IsOptional()
  @IsInt()
  @Min(1)
  limit?: number = 20;
}

class WithRequired {
  @IsString()
  name: string;
}

const query = (metatype: new () => object) => ({ type: 'query' as const, metatype, data: undefined });

describe('AppValidationPipe', () => {
  it('answers every empty object with a fresh instance carrying the defaults', async () => {
    const pipe = new AppValidationPipe();
    const first = await pipe.transform({}, query(OptionalOnly));
    const second = await pipe.transform({}, query(OptionalOnly));
    expect(first).toBeInstanceOf(OptionalOnly);
    expect(second).toEqual({ limit: 20 });
    expect(second).not.toBe(first);
  });

  it('still refuses an empty object for a class with a required field, every time', async () => {
    const pipe = new AppValidationPipe();
    await pipe.transform({}, query(OptionalOnly));
    for (let i = 0; i < 2; i++) await expect(pipe.transform({}, query(WithRequired))).rejects.toBeInstanceOf(ValidationFailedException);
  });

  it('validates non-empty objects as before', async () => {
    const pipe = new AppValidationPipe();
    await pipe.transform({}, query(OptionalOnly));
    await expect(pipe.transform({ limit: 0 }, query(OptionalOnly))).rejects.toBeInstanceOf(ValidationFailedException);
    await expect(pipe.transform({ other: 1 }, query(OptionalOnly))).rejects.toBeInstanceOf(ValidationFailedException);
  });
});

describe('AppValidationPipe with many fields', () => {
  const body = (metatype: new () => object) => ({ type: 'body' as const, metatype, data: undefined });
  const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));

  it('lists at most 20 field errors and counts the rest', async () => {
    const pipe = new AppValidationPipe();
    for (const n of [21, 5000]) {
      const err = await pipe.transform({ name: 'x', ...keys(n) }, body(WithRequired)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationFailedException);
      expect((err as ValidationFailedException).fields).toHaveLength(20);
      expect((err as ValidationFailedException).fields[0]).toEqual({ field: 'k0', messages: ['property k0 should not exist'] });
      expect((err as ValidationFailedException).omitted).toBe(n - 20);
    }
  });

  it('still validates a few unknown fields together with the declared ones', async () => {
    const pipe = new AppValidationPipe();
    const err = (await pipe.transform({ name: 1, ...keys(3) }, body(WithRequired)).catch((e: unknown) => e)) as ValidationFailedException;
    expect(err.fields.map((f) => f.field).sort()).toEqual(['k0', 'k1', 'k2', 'name']);
    expect(err.omitted).toBe(0);
  });
});

describe('AppValidationPipe with an empty body', () => {
  const body = (metatype: new () => object) => ({ type: 'body' as const, metatype, data: undefined });

  class Several {
    @IsString()
    name: string;

    @IsInt()
    @Min(1)
    cpu: number;

    @IsOptional()
    @IsString()
    note?: string;
  }

  it('answers no body, null or {} with one request.body_empty naming the required fields', async () => {
    const pipe = new AppValidationPipe();
    for (const value of [undefined, null, {}]) {
      const err = await pipe.transform(value, body(Several)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({
        code: 'request.body_empty',
        detail: 'The request body is empty: send a JSON object with name, cpu',
        extensions: { required: ['name', 'cpu'] },
      });
    }
  });

  it('lets an empty body through where every field is optional', async () => {
    await expect(new AppValidationPipe().transform(undefined, body(OptionalOnly))).resolves.toEqual({ limit: 20 });
  });
});
