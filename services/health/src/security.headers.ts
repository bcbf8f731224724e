import { securityHeaders } from '@s1c/http-kit';

/** What the dashboard needs and nothing more: its own script, stylesheet and API; no inline code. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

// Status changes by the second and may be sensitive: never cache it.
export const dashboardSecurityHeaders = securityHeaders({ contentSecurityPolicy: CONTENT_SECURITY_POLICY });
