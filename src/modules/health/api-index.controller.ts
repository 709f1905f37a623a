import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { APP_VERSION } from '../../common/version';
import { Public } from '../../common/auth';
import { ApiIndexDto } from './health.dto';

const INDEX: ApiIndexDto = {
  name: 'VM Platform API',
  version: APP_VERSION,
  links: { docs: '/api/docs', openapi: '/api/docs-json', health: '/api/health' },
};

/** `GET /api`: where a newcomer lands first (the start log prints this URL), so it points onwards. */
@ApiTags('health')
@Public()
@Controller()
export class ApiIndexController {
  @Get()
  @ApiOperation({
    operationId: 'getApiIndex',
    summary: 'Name, version and links to the docs, the OpenAPI document and health',
    description:
      'The entry point: the service name and version, and links to Swagger UI, the OpenAPI document and the health check. No token needed.',
  })
  @ApiOkResponse({ type: ApiIndexDto, description: 'The API index' })
  index(): ApiIndexDto {
    return INDEX;
  }
}
