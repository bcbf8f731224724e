import { Controller, Get, Header, Inject } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Public } from './auth.guard';

/** The dashboard's files, read once at start-up: a page, a stylesheet, a script and an icon. */
export interface DashboardAssets {
  readonly html: string;
  readonly css: string;
  readonly js: string;
  readonly icon: string;
}

export const DASHBOARD_ASSETS = Symbol('dashboard-assets');

/** Reads the dashboard from the package's `public` directory (beside `dist` and `src`). */
export function loadDashboardAssets(dir = join(__dirname, '..', 'public')): DashboardAssets {
  return {
    html: readFileSync(join(dir, 'index.html'), 'utf8'),
    css: readFileSync(join(dir, 'dashboard.css'), 'utf8'),
    js: readFileSync(join(dir, 'dashboard.js'), 'utf8'),
    icon: readFileSync(join(dir, 'favicon.svg'), 'utf8'),
  };
}

/**
 * Serves the dashboard. Its files hold no data (the script asks the API, with the token when one
 * is configured), and a browser cannot send a bearer token when it navigates, so they are public.
 */
@Controller()
export class DashboardController {
  constructor(@Inject(DASHBOARD_ASSETS) private readonly assets: DashboardAssets) {}

  @Public()
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  page() {
    return this.assets.html;
  }

  @Public()
  @Get('dashboard.css')
  @Header('Content-Type', 'text/css; charset=utf-8')
  css() {
    return this.assets.css;
  }

  @Public()
  @Get('dashboard.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  js() {
    return this.assets.js;
  }

  @Public()
  @Get('favicon.svg')
  @Header('Content-Type', 'image/svg+xml')
  icon() {
    return this.assets.icon;
  }
}
