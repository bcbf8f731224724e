import { securityHeaders } from '@s1c/http-kit';

/** An API that serves JSON only: nothing may run, load or frame it. */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Source documents change with every state change; single documents relax this to
// `private, no-cache` so that a client can revalidate them with their ETag.
export const apiSecurityHeaders = securityHeaders({ contentSecurityPolicy: CONTENT_SECURITY_POLICY });
