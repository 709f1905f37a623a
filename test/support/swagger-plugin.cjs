// Runs the @nestjs/swagger CLI plugin inside ts-jest so DTO properties reach the OpenAPI document in tests.
const plugin = require('@nestjs/swagger/plugin');

module.exports = {
  name: 'nestjs-swagger-transformer',
  version: 1,
  factory: (cs) => plugin.before({ classValidatorShim: true, introspectComments: true }, cs.program),
};
