import { ArgumentMetadata, Type, ValidationError, ValidationPipe } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage } from 'class-validator';
import { COMMON_ERRORS } from './common.errors';
import { FieldError, MAX_FIELD_ERRORS, ValidationFailedException } from './problem.filter';

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = e.constraints ? [{ field, messages: Object.values(e.constraints) }] : [];
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isEmptyObject = (value: unknown): boolean => isObject(value) && Object.keys(value).length === 0;

function emptyBody(err: ValidationFailedException) {
  const required = [...new Set(err.fields.map((f) => f.field.split('.', 1)[0] ?? f.field))];
  return COMMON_ERRORS.error(
    'request.body_empty',
    required.length
      ? `The request body is empty: send a JSON object with ${required.join(', ')}`
      : 'The request body is empty: send a JSON object',
    { required },
  );
}

/** class-validator's message for a field the class does not declare (forbidNonWhitelisted). */
const unknownField = (key: string): FieldError => ({ field: key, messages: [`property ${key} should not exist`] });

/**
 * The global pipe: DTOs' class-validator rules, unknown fields refused, errors as one problem+json.
 * Most reads send no query at all: once a DTO class has accepted an empty object (its rules are
 * static), later empty objects get its instance without validating again.
 */
export class AppValidationPipe extends ValidationPipe {
  private readonly acceptsEmpty = new WeakSet<Type>();
  private readonly declared = new WeakMap<Type, Set<string>>();

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
    if (type && isObject(value)) this.refuseManyUnknownFields(type, value);
    // No body (or null) is validated as an empty one, as ValidationPipe does.
    const empty = isEmptyObject(value) || (metadata.type === 'body' && value == null && !!type && !!this.declaredFields(type));
    if (!type || !empty) return super.transform(value, metadata);
    if (this.acceptsEmpty.has(type)) return plainToInstance(type, {}, this.transformOptions);
    let result: unknown;
    try {
      result = await super.transform({}, metadata);
    } catch (err) {
      // An empty body: one error naming what the route needs, not one per rule of every field.
      if (metadata.type === 'body' && err instanceof ValidationFailedException) throw emptyBody(err);
      throw err;
    }
    // Only an instance of the class went through validation (and passed).
    if (result instanceof type) this.acceptsEmpty.add(type);
    return result;
  }

  /**
   * More undeclared top-level fields than one answer lists: refused from the field names alone, before
   * class-transformer and class-validator spend time on each of them (a hostile body of thousands of
   * keys costs a key lookup each). Fewer go through validation as usual, with the rest of the body.
   */
  private refuseManyUnknownFields(type: Type, value: Record<string, unknown>): void {
    const declared = this.declaredFields(type);
    if (!declared) return;
    const unknown: string[] = [];
    let count = 0;
    for (const key in value) if (!declared.has(key) && ++count <= MAX_FIELD_ERRORS) unknown.push(key);
    if (count > MAX_FIELD_ERRORS) throw new ValidationFailedException(unknown.map(unknownField), count);
  }

  /** The fields a validated class declares (what whitelisting keeps); undefined for classes without rules (e.g. String). */
  private declaredFields(type: Type): Set<string> | undefined {
    let fields = this.declared.get(type);
    if (!fields) {
      const names = getMetadataStorage()
        .getTargetValidationMetadatas(type, '', true, false)
        .map((m) => m.propertyName);
      if (!names.length) return undefined;
      fields = new Set(names);
      this.declared.set(type, fields);
    }
    return fields;
  }
}
