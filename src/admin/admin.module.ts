import { Module } from '@nestjs/common';
import { AdminAuth } from './admin-auth';

@Module({ providers: [AdminAuth], exports: [AdminAuth] })
export class AdminModule {}
