import { z } from 'zod';
import { ConfigError } from './config.error';
import { connectionProblems } from './connections';

export { ConfigError } from './config.error';

/**
 * Parses the environment with `schema` once, at start-up, and freezes the result. Every problem
 * is reported at once; values are never echoed, since some of them are secrets.
 */
export function loadConfig<Shape extends z.ZodRawShape>(
  shape: Shape,
  source: Record<string, string | undefined> = process.env,
): Readonly<z.infer<z.ZodObject<Shape>>> {
  // Empty variables count as unset, as in most deployment tools.
  const present = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== undefined && value !== ''));
  const result = z.object(shape).safeParse(present);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const name = issue.path.join('.') || '(environment)';
        // Judge "missing" by the environment itself: a coerced value (a port given as "abc") also
        // fails as an invalid type, and must not be reported as absent.
        if (present[name] === undefined) return `${name}: is required`;
        return issue.code === 'invalid_type' ? `${name}: must be a ${issue.expected}` : `${name}: ${issue.message}`;
      }),
    );
  }
  const problems = connectionProblems(result.data);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(result.data);
}
