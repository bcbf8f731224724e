import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AccountInfo } from './dataset.layout.js';
import { API_PREFIX } from './api.controller.js';
import { Simulator } from './simulator.core.js';
import type { SimulatorAdmin } from './simulator.admin.js';
import { simulatorOptionsSchema, type SimulatorOptions } from './simulator.options.js';

/** A simulator listening on a port. */
export interface RunningSimulator {
  /** `http://host:port`, the console URL collectors are configured with. */
  readonly url: string;
  /** `url` + `/web/api/v2.1`. */
  readonly apiUrl: string;
  readonly port: number;
  /** Accounts and their sites (ids to use in filters and token scopes). */
  readonly accounts: readonly AccountInfo[];
  /** In-process twin of the `/_sim` admin API. */
  readonly admin: SimulatorAdmin;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/**
 * Starts a simulator in this process. Options are validated (throws a ZodError on bad ones).
 * Use `port: 0` (the default) in tests to get a free port.
 */
export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const sim = new Simulator(simulatorOptionsSchema.parse(options));
  const server = createServer({ keepAlive: true }, (req, res) => {
    void sim.handle(req, res);
  });
  await listen(server, sim.options.port, sim.options.host);
  const { port } = server.address() as AddressInfo;
  const host = sim.options.host.includes(':') ? `[${sim.options.host}]` : sim.options.host;
  const url = `http://${host}:${port}`;
  return {
    url,
    apiUrl: `${url}${API_PREFIX}`,
    port,
    accounts: sim.dataset.accounts,
    admin: sim.admin,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
