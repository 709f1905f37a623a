import { ArgumentMetadata, Type, ValidationError, ValidationPipe } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { FieldError, ValidationFailedException } from './problem.filter';

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = e.constraints ? [{ field, messages: Object.values(e.constraints) }] : [];
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

const isEmptyObject = (value: unknown): boolean => typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;

/**
 * The global pipe: DTOs' class-validator rules, unknown fields refused, errors as one problem+json.
 * Most reads send no query at all: once a DTO class has accepted an empty object (its rules are
 * static), later empty objects get its instance without validating again.
 */
export class AppValidationPipe extends ValidationPipe {
  private readonly acceptsEmpty = new WeakSet<Type>();

  constructor() {
    super({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      transformOptions: { enableImplicitConversion: false },
      exceptionFactory: (errors) => new ValidationFailedException(flatten(errors)),
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const type = metadata.metatype;
    if (!type || !isEmptyObject(value)) return super.transform(value, metadata);
    if (this.acceptsEmpty.has(type)) return plainToInstance(type, {}, this.transformOptions);
    const result = await super.transform(value, metadata);
    // Only an instance of the class went through validation (and passed).
    if (result instanceof type) this.acceptsEmpty.add(type);
    return result;
  }
}
