const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 JSON bytes of `value`; throws a TypeError for values JSON cannot represent. */
export function encodeJson(value: unknown): Uint8Array {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`cannot encode ${typeof value} as JSON`);
  return encoder.encode(text);
}

/** The UTF-8 text of `data`. */
export function decodeText(data: Uint8Array): string {
  return decoder.decode(data);
}
