import cluster from 'node:cluster';
import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BearerToken } from '../auth/bearer-token';
import { MetricsCredentialsError } from '../common/errors/domain-errors';
import { toErrorResponse } from '../common/errors/error-response';
import { WithRouteFlags } from '../common/route-flags';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { scrapeWholeCluster } from './cluster-metrics';
import * as schemas from '../openapi/schemas';
import { Metrics } from './metrics';

/**
 * GET /metrics for Prometheus: never throttled, its request line at debug (not written at the default
 * level), and guarded by `Authorization: Bearer <METRICS_TOKEN>` when that is set. A worker of a cluster
 * answers for the whole process tree.
 */
@ApiTags('operations')
@Controller('metrics')
export class MetricsController {
  private readonly token?: BearerToken;

  constructor(
    private readonly metrics: Metrics,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.token = config.metricsToken ? new BearerToken(config.metricsToken) : undefined;
  }

  @Get()
  @WithRouteFlags({ operational: true })
  @ApiBearerAuth('metricsBearer')
  @ApiOperation({
    summary:
      'Prometheus scrape (text format 0.0.4): never throttled; for the monitoring network only, not the public path',
  })
  @ApiResponse({
    status: 200,
    description: 'The metrics of the process (of every worker, with WORKERS)',
    content: {
      'text/plain': {
        schema: {
          type: 'string',
          example:
            '# HELP golden_ticket_issuance_requests_total Ticket requests that reached issuance, by outcome\n' +
            '# TYPE golden_ticket_issuance_requests_total counter\n' +
            'golden_ticket_issuance_requests_total{outcome="issued"} 2000\n',
        },
      },
    },
  })
  @ApiResponse({
    status: 401,
    description:
      'METRICS_TOKEN is set and the Bearer token is missing or wrong (WWW-Authenticate: Bearer)',
    content: {
      'application/json': {
        schema: schemas.error,
        example: toErrorResponse(new MetricsCredentialsError()).body,
      },
    },
  })
  async scrape(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    if (this.token && !this.token.isIn(request.headers.authorization)) {
      throw new MetricsCredentialsError();
    }
    const text = cluster.isWorker ? await scrapeWholeCluster() : await this.metrics.scrape();
    void reply.type(this.metrics.registry.contentType);
    return text;
  }
}
