import cluster from 'node:cluster';
import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BearerToken } from '../auth/bearer-token';
import { MetricsCredentialsError } from '../common/errors/domain-errors';
import { WithRouteFlags } from '../common/route-flags';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { scrapeWholeCluster } from './cluster-metrics';
import { Metrics } from './metrics';

/**
 * GET /metrics for Prometheus: never throttled, its request line at debug (not written at the default
 * level), and guarded by `Authorization: Bearer <METRICS_TOKEN>` when that is set. A worker of a cluster
 * answers for the whole process tree.
 */
@ApiExcludeController()
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
