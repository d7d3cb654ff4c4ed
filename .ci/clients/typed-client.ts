// A small typed client of securescore on graphql-codegen's types (generated/ from the committed
// schema.graphql and operations.graphql by `npm run codegen`), checked by
// `tsc --strict --noEmit` in .ci/clients/run. The @ts-expect-error lines must stay errors: they
// prove the generated types are precise (tsc fails when an expected error disappears).

import { readFileSync } from 'node:fs';
import type {
  SetActionStatusMutation,
  SetActionStatusMutationVariables,
  Status,
  TenantScoreQuery,
  TenantScoreQueryVariables,
} from './generated/operations.js';
import type { SecureScore, Tenant, UserError } from './generated/schema.js';

/** The standard GraphQL response, typed by the operation's result. */
interface GraphQLResponse<TData> {
  data?: TData | null;
  errors?: ReadonlyArray<{ message: string; path?: ReadonlyArray<string | number>; extensions?: { code?: string } }>;
}

/** An operation of operations.graphql by name, with the fragments it spreads (text-level). */
function operationText(name: string): string {
  const all = readFileSync(new URL('operations.graphql', import.meta.url), 'utf8');
  const fragments = [...all.matchAll(/^fragment [\s\S]*?^}/gm)].map((m) => m[0]);
  const op = [...all.matchAll(/^(query|mutation|subscription) (\w+)[\s\S]*?^}/gm)].find((m) => m[2] === name);
  if (!op) throw new Error(`no operation ${name}`);
  return [op[0], ...fragments.filter((f) => op[0].includes(`...${f.split(' ')[1]}`))].join('\n');
}

export class SecurescoreClient {
  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  private async request<TData, TVariables>(name: string, variables: TVariables): Promise<GraphQLResponse<TData>> {
    const response = await fetch(`${this.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
      body: JSON.stringify({ query: operationText(name), variables, operationName: name }),
    });
    return (await response.json()) as GraphQLResponse<TData>;
  }

  /** The planned points of a tenant; `null` when it is absent or closed (NOT_FOUND). */
  async plannedPoints(slug: string): Promise<number | null> {
    const { data, errors } = await this.request<TenantScoreQuery, TenantScoreQueryVariables>('TenantScore', { slug });
    if (errors?.some((e) => e.extensions?.code === 'NOT_FOUND')) return null;
    // @ts-expect-error `tenant` is nullable: it must be checked before use.
    const unchecked: number = data.tenant.secureScore.planned.points;
    void unchecked;
    return data?.tenant?.secureScore.planned.points ?? null;
  }

  /** Sets a status; the userErrors (business rules) or the new live score with its cache id. */
  async setStatus(
    slug: string,
    controlId: string,
    status: Status,
  ): Promise<{ userErrors: UserError[] } | { scoreId: SecureScore['id']; tenantId: Tenant['id']; planned: number }> {
    const { data, errors } = await this.request<SetActionStatusMutation, SetActionStatusMutationVariables>('SetActionStatus', {
      input: { tenantSlug: slug, controlId, status },
    });
    if (errors?.length || !data) {
      throw new Error(`refused: ${errors?.map((e) => e.extensions?.code ?? e.message).join(', ')}`);
    }
    const payload = data.setActionStatus;
    if (payload.userErrors.length) return { userErrors: payload.userErrors };
    if (!payload.tenant) throw new Error('no tenant in the payload');
    return { scoreId: payload.tenant.secureScore.id, tenantId: payload.tenant.id, planned: payload.tenant.secureScore.planned.points };
  }
}

// Enum values are checked: `PLANNED` is a Status, `DONE` is not.
const planned: Status = 'PLANNED';
// @ts-expect-error not a Status
const wrong: Status = 'DONE';
void planned;
void wrong;

// Variables are checked: `slug` is required and a string.
// @ts-expect-error missing `slug`
const noSlug: TenantScoreQueryVariables = {};
void noSlug;

export async function main(): Promise<void> {
  const url = process.env['SECURESCORE_URL'];
  const token = process.env['SECURESCORE_OPERATOR_TOKEN'];
  if (!url || !token) throw new Error('SECURESCORE_URL and SECURESCORE_OPERATOR_TOKEN');
  const client = new SecurescoreClient(url, token);
  console.log('planned points of contoso-bank:', await client.plannedPoints('contoso-bank'));
}
