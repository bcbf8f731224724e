import { BaseRpcContext } from '@nestjs/microservices';
import { type Msg, type MsgHdrs } from 'nats';
import { decodeText } from './json.codec';
import { CommandError } from '@s1c/contracts';
import { CommandRefusal } from './messaging.errors';

/**
 * What a command handler gets with `@Ctx()`: the request's subject, headers and body. The
 * `@Payload()` of a command is the body as a UTF-8 string.
 */
export class CommandContext extends BaseRpcContext<[Msg]> {
  constructor(private readonly msg: Msg) {
    super([msg]);
  }

  /** The subject the request was sent to, e.g. `s1c.cmd.source.get`. */
  get subject(): string {
    return this.msg.subject;
  }

  /** The request headers, if any (e.g. a caller identity). */
  get headers(): MsgHdrs | undefined {
    return this.msg.headers;
  }

  /** The raw request body. */
  get data(): Uint8Array {
    return this.msg.data;
  }

  /** The first value of a request header, or undefined. */
  header(name: string): string | undefined {
    const value = this.msg.headers?.get(name);
    return value === undefined || value === '' ? undefined : value;
  }

  /** The body as UTF-8 text. */
  text(): string {
    return decodeText(this.msg.data);
  }

  /**
   * The body parsed as JSON, for validation with zod; `undefined` for an empty body. Invalid
   * JSON raises a {@link CommandRefusal} with code `InvalidJson`, which the caller receives.
   */
  json(): unknown {
    if (this.msg.data.length === 0) return undefined;
    try {
      return JSON.parse(this.text()) as unknown;
    } catch (error) {
      throw new CommandRefusal(new CommandError('InvalidJson', `request body is not valid JSON: ${(error as Error).message}`));
    }
  }
}
