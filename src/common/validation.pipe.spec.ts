import { IsInt, IsOptional, IsString, Min } from 'class-validator';
import { AppValidationPipe } from './validation.pipe';
import { ValidationFailedException } from './problem.filter';

class OptionalOnly {
  @IsOptional() @IsInt() @Min(1)
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
