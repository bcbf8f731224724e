import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

/** A TCP listener on loopback that counts and drops every connection: proof that nothing was contacted. */
export interface ConnectionTrap {
  readonly port: number;
  /** Connections received so far. */
  connections(): number;
  close(): Promise<void>;
}

export async function startConnectionTrap(): Promise<ConnectionTrap> {
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
