/** Injection tokens of what {@link RuntimeModule} provides to every provider of a service. */
export const RUNTIME = {
  /** The service's parsed configuration. */
  config: Symbol('s1c.config'),
  /** The service's pino logger ({@link Logger}). */
  logger: Symbol('s1c.logger'),
  /** Its {@link ServiceConnections}. */
  connections: Symbol('s1c.connections'),
  /** `() => Date`: the time the service decides with (tests set it). */
  clock: Symbol('s1c.clock'),
} as const;
