import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import * as schemas from '../openapi/schemas';
import type { FastifyReply } from 'fastify';
import { DatabaseHealthIndicator } from './database.health';
import { WithRouteFlags } from '../common/route-flags';
import { ShutdownState } from './shutdown-state';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly database: DatabaseHealthIndicator,
    private readonly shutdown: ShutdownState,
  ) {}

  /** The process is up and its event loop turns. */
  @Get('live')
  @WithRouteFlags({ operational: true })
  @ApiOperation({ summary: 'Liveness: the process answers' })
  @ApiResponse({ status: 200, description: 'Up', schema: schemas.health })
  live() {
    return { status: 'ok' };
  }

  /** Ready for traffic: database reachable, migrations applied, not shutting down. */
  @Get('ready')
  @WithRouteFlags({ operational: true })
  @ApiOperation({
    summary: 'Readiness: database reachable, migrations applied, not shutting down',
  })
  @ApiResponse({ status: 200, description: 'Ready (terminus details)', schema: schemas.health })
  @ApiResponse({ status: 503, description: 'Not ready: error shape plus terminus details' })
  async ready(@Res({ passthrough: true }) reply: FastifyReply) {
    try {
      return await this.health.check([
        () => {
          const lifecycle = this.indicators.check('lifecycle');
          return this.shutdown.shuttingDown
            ? lifecycle.down({ reason: 'shutting down' })
            : lifecycle.up();
        },
        () => this.database.check('database'),
      ]);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      void reply.status(503);
      return {
        statusCode: 503,
        message: '서비스가 아직 요청을 받을 준비가 되지 않았습니다.',
        ...(error.getResponse() as object),
      };
    }
  }
}
