import { Transform } from 'class-transformer';
import { registerDecorator, ValidationOptions } from 'class-validator';

export const METADATA_MAX_KEYS = 64;
export const METADATA_MAX_BYTES = 16 * 1024;
/** Keys and array elements 16 KiB of JSON can hold at most (each takes at least 2 bytes: `0,`). */
export const METADATA_MAX_MEMBERS = METADATA_MAX_BYTES / 2;

export function metadataProblem(value: unknown, { allowNullValues }: { allowNullValues: boolean }): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'must be a JSON object';
  const keys = Object.keys(value);
  if (keys.length > METADATA_MAX_KEYS) return `must have at most ${METADATA_MAX_KEYS} keys`;
  if (keys.some((k) => k.length < 1 || k.length > 128)) return 'keys must be 1 to 128 characters';
  if (!allowNullValues && Object.values(value).some((v) => v === null)) return 'values must not be null';
  if (Buffer.byteLength(JSON.stringify(value)) > METADATA_MAX_BYTES) return `must be at most ${METADATA_MAX_BYTES} bytes as JSON`;
  return null;
}

/** A JSON object of at most 64 keys and 16 KiB. With allowNullValues, a null value means "remove the key". */
export function IsMetadata(opts: { allowNullValues: boolean }, validationOptions?: ValidationOptions) {
  return (object: object, propertyName: string) =>
    registerDecorator({
      name: 'isMetadata',
      target: object.constructor,
      propertyName,
      options: validationOptions,
      validator: {
        validate: (value: unknown) => metadataProblem(value, opts) === null,
        defaultMessage: (args) => `${args?.property} ${metadataProblem(args?.value, opts)}`,
      },
    });
}

/**
 * Keeps the metadata object exactly as parsed. class-transformer copies a plain object key by key and
 * skips any key whose name is a function on the copy (its Object.prototype members: hasOwnProperty,
 * toString, valueOf, ...), so those keys were dropped without a word. The reserved keys (__proto__,
 * constructor, prototype) never get this far: the body check refuses them with request.reserved_key.
 */
export function KeepRawObject(): PropertyDecorator {
  return Transform(({ obj, key }) => (obj as Record<string, unknown>)[key], { toClassOnly: true });
}
