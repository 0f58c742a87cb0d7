import { Injectable, OnModuleDestroy } from '@nestjs/common';

/**
 * Flips first when the app starts to close, so readiness turns 503 while requests still finish (and their
 * answers say `Connection: close`).
 */
@Injectable()
export class ShutdownState implements OnModuleDestroy {
  shuttingDown = false;

  onModuleDestroy(): void {
    this.shuttingDown = true;
  }
}
