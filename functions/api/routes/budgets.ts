import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { BudgetSchema, CreateBudgetSchema, UpdateBudgetSchema } from '../../../shared/budgets/schema.js';
import type { AppEnv } from '../env.js';
import { tenantOf } from '../middleware/authorize.js';
import { createRouter, defineOperation, notFoundProblem, PageQuerySchema, pageOf } from '../openapi.js';

const BudgetIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'bud_01JDQ7Z5M2X9K3V4W6Y8A0B1C2' }),
});

const Amount = z.union([z.string(), z.int()]);
type TreeNode = {
  budget: z.infer<typeof BudgetSchema>;
  rollup: {
    unit: 'usd' | 'tokens';
    children: number;
    children_spent: string | number;
    children_limit: string | number;
  };
  children: TreeNode[];
};
const BudgetTreeNodeSchema: z.ZodType<TreeNode> = z
  .lazy(() =>
    z.object({
      budget: BudgetSchema,
      rollup: z.object({
        unit: z.enum(['usd', 'tokens']),
        children: z.int().openapi({
          description:
            'Direct children counted: those of the same unit and periods (period, week start, time zone). Children whose scopes overlap each count the usage they share.',
        }),
        children_spent: Amount,
        children_limit: Amount,
      }),
      children: z.array(BudgetTreeNodeSchema),
    }),
  )
  .openapi('BudgetTreeNode');
const BudgetTreeSchema = z.object({ data: z.array(BudgetTreeNodeSchema) }).openapi('BudgetTree');

const restrictOf = (c: Context<AppEnv>) => {
  const principal = c.var.principal;
  return principal.kind === 'tenant' ? principal.restrict : null;
};

const createBudget = defineOperation({
  method: 'post',
  path: '/v1/budgets',
  tags: ['Budgets'],
  summary: 'Create a budget: scope, calendar period, limit in USD or tokens, thresholds and actions',
  access: { scopes: ['admin'] },
  request: { body: { required: true, content: { 'application/json': { schema: CreateBudgetSchema } } } },
  responses: {
    201: { description: 'Created', content: { 'application/json': { schema: BudgetSchema } } },
  },
});

const listBudgets = defineOperation({
  method: 'get',
  path: '/v1/budgets',
  tags: ['Budgets'],
  summary: 'List budgets with their live status; `view=tree` nests them by scope with roll-ups',
  access: { scopes: ['read', 'admin'] },
  request: {
    query: PageQuerySchema.extend({
      view: z.enum(['list', 'tree']).default('list').openapi({
        description: '`tree`: every budget nested under the budget whose scope contains its own (no paging).',
      }),
    }),
  },
  responses: {
    200: {
      description: 'A page of budgets, or the tree',
      content: {
        'application/json': { schema: z.union([pageOf(BudgetSchema, 'BudgetPage'), BudgetTreeSchema]) },
      },
    },
  },
});

const getBudget = defineOperation({
  method: 'get',
  path: '/v1/budgets/{id}',
  tags: ['Budgets'],
  summary: 'A budget and its live status',
  access: { scopes: ['read', 'admin'] },
  request: { params: BudgetIdParam },
  responses: {
    200: { description: 'The budget', content: { 'application/json': { schema: BudgetSchema } } },
    404: notFoundProblem,
  },
});

const updateBudget = defineOperation({
  method: 'patch',
  path: '/v1/budgets/{id}',
  tags: ['Budgets'],
  summary: 'Change name, limit (same unit), thresholds, actions or forecast_alert',
  access: { scopes: ['admin'] },
  request: {
    params: BudgetIdParam,
    body: { required: true, content: { 'application/json': { schema: UpdateBudgetSchema } } },
  },
  responses: {
    200: { description: 'The budget', content: { 'application/json': { schema: BudgetSchema } } },
    404: notFoundProblem,
  },
});

const deleteBudget = defineOperation({
  method: 'delete',
  path: '/v1/budgets/{id}',
  tags: ['Budgets'],
  summary: 'Delete a budget and its counters',
  access: { scopes: ['admin'] },
  request: { params: BudgetIdParam },
  responses: { 204: { description: 'Deleted' }, 404: notFoundProblem },
});

export const budgetRoutes = createRouter()
  .openapi(createBudget, async (c) =>
    c.json(
      await c.var.runtime.services.budgets.create(tenantOf(c), c.req.valid('json'), c.var.idempotentRun),
      201,
    ),
  )
  .openapi(listBudgets, async (c) => {
    const { view, ...page } = c.req.valid('query');
    const budgets = c.var.runtime.services.budgets;
    if (view === 'tree') return c.json(await budgets.tree(tenantOf(c), restrictOf(c)), 200);
    return c.json(await budgets.list(tenantOf(c), page, restrictOf(c)), 200);
  })
  .openapi(getBudget, async (c) =>
    c.json(
      await c.var.runtime.services.budgets.get(tenantOf(c), c.req.valid('param').id, restrictOf(c)),
      200,
    ),
  )
  .openapi(updateBudget, async (c) =>
    c.json(
      await c.var.runtime.services.budgets.update(tenantOf(c), c.req.valid('param').id, c.req.valid('json')),
      200,
    ),
  )
  .openapi(deleteBudget, async (c) => {
    await c.var.runtime.services.budgets.remove(tenantOf(c), c.req.valid('param').id);
    return c.body(null, 204);
  });
