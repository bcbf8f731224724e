/** Test helpers: a tiny S1 client that walks cursors the way collectors do. */

export type Item = Record<string, unknown> & { id: string };

export interface ListBody {
  data: Item[];
  pagination: { nextCursor: string | null; totalItems: number | null };
}

export interface ErrorBody {
  errors: { code: number; detail: string | null; title: string }[];
}

export async function get(baseUrl: string, path: string, token: string | undefined, params: Record<string, string> = {}): Promise<Response> {
  const url = new URL(`${baseUrl}${path}`);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return fetch(url, { headers: token === undefined ? {} : { Authorization: `ApiToken ${token}` } });
}

export async function getJson<T>(baseUrl: string, path: string, token: string | undefined, params: Record<string, string> = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await get(baseUrl, path, token, params);
  return { status: res.status, body: (await res.json()) as T, headers: res.headers };
}

export interface WalkResult {
  items: Item[];
  pages: number;
  totals: (number | null)[];
}

/** Follows nextCursor to the end, re-sending the same filters each time. */
export async function walk(apiUrl: string, api: string, token: string, filters: Record<string, string>): Promise<WalkResult> {
  const items: Item[] = [];
  const totals: (number | null)[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const params: Record<string, string> = cursor === null ? { ...filters } : { ...filters, cursor };
    const { status, body } = await getJson<ListBody>(apiUrl, `/${api}`, token, params);
    if (status !== 200) throw new Error(`page ${pages} of ${api} answered ${status}: ${JSON.stringify(body)}`);
    items.push(...body.data);
    totals.push(body.pagination.totalItems);
    cursor = body.pagination.nextCursor;
    pages += 1;
    if (pages > 100_000) throw new Error('cursor walk does not end');
  } while (cursor !== null);
  return { items, pages, totals };
}

/** The timestamp a list filters and sorts on. */
export function keyOf(api: string, item: Item, field: 'createdAt' | 'updatedAt'): string {
  const source = api === 'threats' ? (item.threatInfo as Record<string, string>) : (item as Record<string, unknown>);
  const value = source[field];
  if (typeof value !== 'string') throw new Error(`${api} item ${item.id} has no ${field}`);
  return value;
}

/** Ids compare as numbers of equal length here (19 digits), so string order is numeric order. */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
