import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Express middleware setting security headers on every response: a Content-Security-Policy (the
 * caller's), no sniffing, no framing, no referrer, same-origin isolation, no powerful features,
 * and `Cache-Control` (`no-store` unless the caller says otherwise).
 */
export function securityHeaders(options: { contentSecurityPolicy: string; cacheControl?: string }) {
  const cacheControl = options.cacheControl ?? 'no-store';
  return (_req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    res.setHeader('Content-Security-Policy', options.contentSecurityPolicy);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), interest-cohort=()');
    res.setHeader('Cache-Control', cacheControl);
    next();
  };
}
