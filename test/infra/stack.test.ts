import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_NODE_OPTIONS } from '../../infra/bundling.js';
import {
  availableFunctions,
  FUNCTIONS,
  type FunctionSpec,
  WEBHOOK_EVENT_PREFIXES,
} from '../../infra/functions.js';
import { StageContextError, stageSettings } from '../../infra/stage.js';
import { FUNCTION_ENV, TABLE_ACTIONS } from '../../infra/tollgate-function.js';
import {
  API_ACCESS_LOG_FIELDS,
  BUS_TARGET_RETRY_ATTEMPTS,
  RETRY_QUEUE_MAX_RECEIVES,
  ROOT,
  TollgateStack,
} from '../../infra/tollgate-stack.js';
import { EVENT_SOURCE } from '../../shared/bus/bus.js';
import { createTableInput, GLOBAL_SECONDARY_INDEXES, TTL_ATTRIBUTE } from '../../shared/db/table.js';

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation resources are asserted on, not typed.
type Resource = { Type: string; Properties: any; DeletionPolicy?: string };

/**
 * Three stacks in one app, synthesised once: the dev stage with the functions whose handlers exist,
 * the prod stage, and every row of the function table (rows without a handler yet stand in on an
 * existing entry), so the bus, queue and KMS wiring is asserted before those handlers land.
 * Bundling is skipped (the bundle is checked by bundle-size.test.ts with the same options), and
 * so is CDK's built-in template validation, which `npm run synth` runs.
 */
const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789';

function synth() {
  const app = new App({
    context: { 'aws:cdk:bundling-stacks': [] },
    builtinCloudFormationValidation: false,
  });
  const settings = (context: Record<string, string>) =>
    stageSettings((key) => ({ stage: 'test', ...context })[key]);
  const dev = new TollgateStack(app, 'Dev', { settings: settings({}) });
  const prod = new TollgateStack(app, 'Prod', {
    settings: settings({ stage: 'prod', rollupRate: '5m', apiRateLimit: '100', apiBurstLimit: '300' }),
  });
  const standIn = FUNCTIONS.find((spec) => spec.name === 'kpi-rollup')?.entry as string;
  const everyRow: FunctionSpec[] = FUNCTIONS.map((spec) => ({
    ...spec,
    entry: availableFunctions(ROOT, [spec]).length > 0 ? spec.entry : standIn,
  }));
  const full = new TollgateStack(app, 'Full', {
    settings: settings({ alarmEmail: 'ops@example.com', billingPullRate: '2d' }),
    functions: everyRow,
  });
  const withDomain = new TollgateStack(app, 'WithDomain', {
    settings: settings({
      domainName: 'api.tollgate.example.com',
      certificateArn: CERTIFICATE_ARN,
      tracing: 'true',
    }),
  });
  return {
    withDomain: Template.fromStack(withDomain, { skipCyclicalDependenciesCheck: true }),
    dev: Template.fromStack(dev, { skipCyclicalDependenciesCheck: true }),
    prod: Template.fromStack(prod, { skipCyclicalDependenciesCheck: true }),
    full: Template.fromStack(full, { skipCyclicalDependenciesCheck: true }),
  };
}

function resources(template: Template, type: string): [string, Resource][] {
  return Object.entries(template.findResources(type)) as [string, Resource][];
}

function functionLogicalId(template: Template, name: string, stage = 'test'): string {
  const found = resources(template, 'AWS::Lambda::Function').find(
    ([, resource]) => resource.Properties.FunctionName === `tollgate-${stage}-${name}`,
  );
  if (!found) throw new Error(`no function tollgate-${stage}-${name}`);
  return found[0];
}

function logicalIdOf(template: Template, type: string): string {
  const found = resources(template, type);
  expect(found).toHaveLength(1);
  return (found[0] as [string, Resource])[0];
}

/** The statements of the policy attached to a function's role. */
// biome-ignore lint/suspicious/noExplicitAny: IAM statements as synthesised.
function statementsOf(template: Template, functionId: string): any[] {
  const role = template.findResources('AWS::Lambda::Function')[functionId]?.Properties.Role['Fn::GetAtt'][0];
  const policies = resources(template, 'AWS::IAM::Policy').filter(([, policy]) =>
    policy.Properties.Roles.some((ref: { Ref: string }) => ref.Ref === role),
  );
  return policies.flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement);
}

function actionsOn(statements: { Action: string | string[] }[]): string[] {
  return statements.flatMap((statement) => [statement.Action].flat()).sort();
}

describe('the CDK stack', () => {
  let dev: Template;
  let prod: Template;
  let full: Template;
  let withDomain: Template;
  beforeAll(() => {
    ({ dev, prod, full, withDomain } = synth());
  }, 120_000);

  it('builds the table from the same definition the code and local engines use', () => {
    const local = createTableInput('ignored');
    dev.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: local.KeySchema,
      AttributeDefinitions: Match.arrayEquals(local.AttributeDefinitions ?? []),
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
      GlobalSecondaryIndexes: (local.GlobalSecondaryIndexes ?? []).map((index) =>
        Match.objectLike({
          IndexName: index.IndexName,
          KeySchema: index.KeySchema,
          Projection: index.Projection,
        }),
      ),
      Replicas: [
        Match.objectLike({
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: false,
        }),
      ],
    });
  });

  it('protects prod: deletion protection, RETAIN on stateful resources, longer log retention', () => {
    prod.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        Replicas: [Match.objectLike({ DeletionProtectionEnabled: true })],
      }),
    });
    dev.hasResource('AWS::DynamoDB::GlobalTable', { DeletionPolicy: 'Delete' });
    for (const type of ['AWS::KMS::Key', 'AWS::SecretsManager::Secret', 'AWS::Logs::LogGroup']) {
      expect(resources(prod, type).map(([, r]) => r.DeletionPolicy)).not.toContain('Delete');
      expect(resources(dev, type).map(([, r]) => r.DeletionPolicy)).not.toContain('Retain');
    }
    for (const [, group] of resources(prod, 'AWS::Logs::LogGroup')) {
      expect(group.Properties.RetentionInDays).toBe(180);
    }
    for (const [, group] of resources(dev, 'AWS::Logs::LogGroup')) {
      expect(group.Properties.RetentionInDays).toBe(14);
    }
  });

  it('builds exactly the rows of infra/functions.ts whose handler exists', () => {
    const built = resources(dev, 'AWS::Lambda::Function').map(([, fn]) => fn.Properties.FunctionName);
    expect(built.sort()).toEqual(
      availableFunctions(ROOT)
        .map((spec) => `tollgate-test-${spec.name}`)
        .sort(),
    );
    expect(built).toContain('tollgate-test-api');
    expect(built).toContain('tollgate-test-kpi-rollup');
    expect(built).toContain('tollgate-test-billing-pull');
    expect(built).toContain('tollgate-test-webhook-delivery');
    expect(resources(full, 'AWS::Lambda::Function')).toHaveLength(FUNCTIONS.length);
  });

  describe.each(FUNCTIONS.map((spec) => [spec.name, spec] as const))('function %s', (name, spec) => {
    it('runs Node 22 on arm64 with its own log group, and an environment made only of its grants', () => {
      const id = functionLogicalId(full, name);
      const fn = full.findResources('AWS::Lambda::Function')[id] as Resource;
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: spec.memorySize,
        Timeout: spec.timeoutSeconds,
      });
      const expectedEnv = [
        FUNCTION_ENV.tableName,
        ...(LAMBDA_NODE_OPTIONS ? ['NODE_OPTIONS'] : []),
        ...(spec.grants.bus ? [FUNCTION_ENV.eventBusName] : []),
        ...(spec.grants.retryQueue ? [FUNCTION_ENV.retryQueueUrl] : []),
        ...(spec.grants.credentialsKey ? [FUNCTION_ENV.credentialsKeyId] : []),
        ...(spec.grants.operatorSecret ? [FUNCTION_ENV.operatorKeySecretArn] : []),
      ];
      expect(Object.keys(fn.Properties.Environment.Variables).sort()).toEqual(expectedEnv.sort());
      expect(fn.Properties.Environment.Variables.NODE_OPTIONS ?? '').toBe(LAMBDA_NODE_OPTIONS);
      expect(fn.Properties.Environment.Variables[FUNCTION_ENV.tableName]).toEqual({
        Ref: logicalIdOf(full, 'AWS::DynamoDB::GlobalTable'),
      });

      const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref;
      expect(full.findResources('AWS::Logs::LogGroup')[logGroupId]?.Properties).toEqual({
        LogGroupName: `/aws/lambda/tollgate-test-${name}`,
        RetentionInDays: 14,
      });
    });

    it('may touch the table and its indexes, and only what its grants name', () => {
      const statements = statementsOf(full, functionLogicalId(full, name));
      const tableId = logicalIdOf(full, 'AWS::DynamoDB::GlobalTable');
      const tableArn = { 'Fn::GetAtt': [tableId, 'Arn'] };
      const table = statements.filter((s) => actionsOn([s]).some((a) => a.startsWith('dynamodb:')));
      expect(table).toEqual([
        {
          Effect: 'Allow',
          Action: [...TABLE_ACTIONS[spec.grants.table]],
          Resource: [tableArn, { 'Fn::Join': ['', [tableArn, '/index/*']] }],
        },
      ]);
      expect(actionsOn(statements)).not.toContain('dynamodb:Scan');

      const expected = new Set<string>(['dynamodb']);
      if (spec.grants.bus) expected.add('events');
      if (spec.grants.operatorSecret) expected.add('secretsmanager');
      if (spec.grants.credentialsKey) expected.add('kms');
      if (spec.grants.retryQueue || spec.triggers.some((t) => t.kind === 'queue')) expected.add('sqs');
      expect(new Set(actionsOn(statements).map((action) => action.split(':')[0]))).toEqual(expected);
      for (const statement of statements) expect(statement.Resource).not.toBe('*');
    });

    it('raises an alarm on its errors and on its throttles', () => {
      const id = functionLogicalId(full, name);
      for (const metric of ['Errors', 'Throttles']) {
        full.hasResourceProperties('AWS::CloudWatch::Alarm', {
          AlarmName: `tollgate-test-${name}-${metric.toLowerCase()}`,
          Namespace: 'AWS/Lambda',
          MetricName: metric,
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: id } }],
          Threshold: 1,
          AlarmActions: [{ Ref: logicalIdOf(full, 'AWS::SNS::Topic') }],
        });
      }
    });
  });

  it('grants each resource narrowly: the bus, the operator secret, the KMS key, the retry queue', () => {
    const api = statementsOf(full, functionLogicalId(full, 'api'));
    expect(api).toContainEqual({
      Effect: 'Allow',
      Action: 'events:PutEvents',
      Resource: { 'Fn::GetAtt': [logicalIdOf(full, 'AWS::Events::EventBus'), 'Arn'] },
    });
    expect(api).toContainEqual({
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      Resource: { Ref: logicalIdOf(full, 'AWS::SecretsManager::Secret') },
    });

    const billing = statementsOf(full, functionLogicalId(full, 'billing-pull'));
    expect(billing).toContainEqual({
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: { 'Fn::GetAtt': [logicalIdOf(full, 'AWS::KMS::Key'), 'Arn'] },
    });
    expect(actionsOn(billing)).not.toContain('kms:Encrypt');

    const queueArn = { 'Fn::GetAtt': [retryQueueId(full), 'Arn'] };
    const delivery = statementsOf(full, functionLogicalId(full, 'webhook-delivery'));
    expect(delivery).toContainEqual(
      expect.objectContaining({ Action: expect.arrayContaining(['sqs:SendMessage']), Resource: queueArn }),
    );
    expect(delivery).toContainEqual(
      expect.objectContaining({ Action: expect.arrayContaining(['sqs:ReceiveMessage']), Resource: queueArn }),
    );
    // Delivery opens sealed signing secrets; only the API seals them.
    expect(delivery).toContainEqual({
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: { 'Fn::GetAtt': [logicalIdOf(full, 'AWS::KMS::Key'), 'Arn'] },
    });
    expect(actionsOn(delivery)).not.toContain('kms:GenerateDataKey');
    expect(actionsOn(api)).toEqual(expect.arrayContaining(['kms:GenerateDataKey', 'kms:Decrypt']));
  });

  it('runs the API behind an HTTP API whose stage throttles', () => {
    const apiFunction = functionLogicalId(dev, 'api');
    dev.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    dev.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: { 'Fn::GetAtt': [apiFunction, 'Arn'] },
      PayloadFormatVersion: '2.0',
    });
    dev.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000 },
    });
    prod.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 300 },
    });
    // Access logs: one JSON line per request into a log group of the stage's retention.
    for (const [template, stage, days] of [
      [dev, 'test', 14],
      [prod, 'prod', 180],
    ] as const) {
      const logGroups = resources(template, 'AWS::Logs::LogGroup').filter(
        ([, group]) => group.Properties.LogGroupName === `/aws/apigateway/tollgate-${stage}-api`,
      );
      expect(logGroups).toHaveLength(1);
      const [logGroupId, logGroup] = logGroups[0] as [string, Resource];
      expect(logGroup.Properties.RetentionInDays).toBe(days);
      const stages = resources(template, 'AWS::ApiGatewayV2::Stage');
      expect(stages).toHaveLength(1);
      const [, apiStage] = stages[0] as [string, Resource];
      expect(apiStage.Properties.AccessLogSettings.DestinationArn).toEqual({
        'Fn::GetAtt': [logGroupId, 'Arn'],
      });
      expect(JSON.parse(apiStage.Properties.AccessLogSettings.Format)).toEqual(API_ACCESS_LOG_FIELDS);
    }
    dev.hasOutput('ApiUrl', Match.anyValue());
    dev.resourceCountIs('AWS::ApiGatewayV2::DomainName', 0);
    dev.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: false });
  });

  it('serves the API on its own domain when given one, and only there; traces when asked', () => {
    withDomain.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'api.tollgate.example.com',
      DomainNameConfigurations: [
        Match.objectLike({ CertificateArn: CERTIFICATE_ARN, EndpointType: 'REGIONAL' }),
      ],
    });
    withDomain.hasResourceProperties('AWS::ApiGatewayV2::ApiMapping', {
      ApiId: { Ref: logicalIdOf(withDomain, 'AWS::ApiGatewayV2::Api') },
      DomainName: { Ref: logicalIdOf(withDomain, 'AWS::ApiGatewayV2::DomainName') },
      Stage: '$default',
    });
    withDomain.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: true });
    withDomain.hasOutput('ApiUrl', { Value: 'https://api.tollgate.example.com' });
    withDomain.hasOutput('ApiDomainTarget', Match.anyValue());
    withDomain.hasOutput('ApiDomainHostedZoneId', Match.anyValue());

    const functions = resources(withDomain, 'AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(0);
    for (const [id, fn] of functions) {
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect(actionsOn(statementsOf(withDomain, id))).toEqual(
        expect.arrayContaining(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']),
      );
    }
    for (const [, fn] of resources(dev, 'AWS::Lambda::Function')) {
      expect(fn.Properties.TracingConfig).toBeUndefined();
    }
  });

  it('runs kpi-rollup and billing-pull on EventBridge Scheduler rates taken from context', () => {
    const schedule = (template: Template, name: string, stage = 'test') =>
      resources(template, 'AWS::Scheduler::Schedule').find(
        ([, s]) => s.Properties.Target.Arn['Fn::GetAtt'][0] === functionLogicalId(template, name, stage),
      )?.[1].Properties;
    expect(schedule(dev, 'kpi-rollup')).toMatchObject({
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Target: { Input: '{}' },
    });
    expect(schedule(prod, 'kpi-rollup', 'prod')).toMatchObject({
      ScheduleExpression: 'rate(5 minutes)',
      Target: { RetryPolicy: { MaximumEventAgeInSeconds: 300 } },
    });
    // A rate longer than a day still gives Scheduler an event age it accepts.
    expect(schedule(full, 'billing-pull')).toMatchObject({
      ScheduleExpression: 'rate(2 days)',
      Target: { RetryPolicy: { MaximumEventAgeInSeconds: 86_400 } },
    });
    expect(resources(full, 'AWS::Scheduler::Schedule')).toHaveLength(2);
  });

  it('routes budget, anomaly, billing and data-quality events from the bus to webhook delivery', () => {
    const delivery = functionLogicalId(full, 'webhook-delivery');
    full.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: logicalIdOf(full, 'AWS::Events::EventBus') },
      EventPattern: {
        source: [EVENT_SOURCE],
        'detail-type': WEBHOOK_EVENT_PREFIXES.map((prefix) => ({ prefix })),
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [delivery, 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [deadLetterQueueId(full), 'Arn'] } },
          RetryPolicy: Match.objectLike({ MaximumRetryAttempts: BUS_TARGET_RETRY_ATTEMPTS }),
        }),
      ],
    });
    // Without the handler, no rule: events wait for nobody.
    dev.resourceCountIs('AWS::Events::Rule', availableFunctions(ROOT).some(hasBusTrigger) ? 1 : 0);
  });

  it('consumes the retry queue with partial batch failures; what keeps failing goes to the DLQ', () => {
    full.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionLogicalId(full, 'webhook-delivery') },
      EventSourceArn: { 'Fn::GetAtt': [retryQueueId(full), 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 10,
    });
    const retry = full.findResources('AWS::SQS::Queue')[retryQueueId(full)] as Resource;
    expect(retry.Properties).toMatchObject({
      VisibilityTimeout: 6 * 60,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [deadLetterQueueId(full), 'Arn'] },
        maxReceiveCount: RETRY_QUEUE_MAX_RECEIVES,
      },
      SqsManagedSseEnabled: true,
    });
    const visibility = retry.Properties.VisibilityTimeout as number;
    const consumer = FUNCTIONS.find((spec) => spec.triggers.some((t) => t.kind === 'queue'));
    expect(visibility).toBeGreaterThanOrEqual(6 * (consumer?.timeoutSeconds ?? Number.POSITIVE_INFINITY));
    expect(
      (full.findResources('AWS::SQS::Queue')[deadLetterQueueId(full)] as Resource).Properties,
    ).toMatchObject({ MessageRetentionPeriod: 14 * 86_400 });
  });

  it('alarms on dead letters and on DynamoDB throttles of the table and each index', () => {
    const topic = { Ref: logicalIdOf(dev, 'AWS::SNS::Topic') };
    dev.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'tollgate-test-dead-letters',
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLetterQueueId(dev), 'QueueName'] } }],
      AlarmActions: [topic],
    });
    const throttles = resources(dev, 'AWS::CloudWatch::Alarm').find(
      ([, alarm]) => alarm.Properties.AlarmName === 'tollgate-test-table-throttles',
    )?.[1].Properties;
    expect(throttles.AlarmActions).toEqual([topic]);
    // biome-ignore lint/suspicious/noExplicitAny: metric data queries as synthesised.
    const watched = throttles.Metrics.filter((query: any) => query.MetricStat).map((query: any) => {
      const dimensions = query.MetricStat.Metric.Dimensions;
      // biome-ignore lint/suspicious/noExplicitAny: dimensions as synthesised.
      const index = dimensions.find((d: any) => d.Name === 'GlobalSecondaryIndexName')?.Value ?? 'table';
      return `${index}:${query.MetricStat.Metric.MetricName}`;
    });
    const scopes = ['table', ...GLOBAL_SECONDARY_INDEXES.map((index) => index.indexName)];
    expect(watched.sort()).toEqual(
      scopes.flatMap((scope) => [`${scope}:ReadThrottleEvents`, `${scope}:WriteThrottleEvents`]).sort(),
    );
    full.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    dev.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('keeps provider credentials under a rotating KMS key and the operator key in Secrets Manager', () => {
    dev.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    dev.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/tollgate-test-provider-credentials' });
    dev.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'tollgate-test/operator-key',
      GenerateSecretString: Match.objectLike({ PasswordLength: 48, ExcludePunctuation: true }),
    });
    for (const output of ['OperatorKeySecretArn', 'TableName', 'DeadLetterQueueUrl', 'AlarmTopicArn']) {
      dev.hasOutput(output, Match.anyValue());
    }
  });
});

function hasBusTrigger(spec: FunctionSpec): boolean {
  return spec.triggers.some((trigger) => trigger.kind === 'bus');
}

function queueIdNamed(template: Template, suffix: string): string {
  const found = resources(template, 'AWS::SQS::Queue').find(([, queue]) =>
    String(queue.Properties.QueueName).endsWith(suffix),
  );
  if (!found) throw new Error(`no queue ${suffix}`);
  return found[0];
}

const retryQueueId = (template: Template) => queueIdNamed(template, '-webhook-retries');
const deadLetterQueueId = (template: Template) => queueIdNamed(template, '-dead-letters');

describe('the function table', () => {
  it('builds a row only once its handler file exists', () => {
    const root = mkdtempSync(join(tmpdir(), 'tollgate-infra-'));
    try {
      const present = FUNCTIONS.slice(0, 2);
      for (const spec of present) {
        mkdirSync(dirname(join(root, spec.entry)), { recursive: true });
        writeFileSync(join(root, spec.entry), 'export const handler = () => {};\n');
      }
      expect(availableFunctions(root).map((spec) => spec.name)).toEqual(present.map((spec) => spec.name));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('names every function and construct uniquely', () => {
    const names = FUNCTIONS.map((spec) => spec.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[a-z][a-z0-9-]*$/);
  });
});

describe('stage settings from context', () => {
  const settingsOf = (context: Record<string, string>) => stageSettings((key) => context[key]);

  it('defaults to dev, with the local intervals as schedule rates', () => {
    const dev = settingsOf({});
    expect(dev).toMatchObject({ stage: 'dev', production: false, alarmEmail: undefined });
    expect(dev.rates['kpi-rollup'].toMinutes()).toBe(1);
    expect(dev.rates['billing-pull'].toMinutes()).toBe(60);
  });

  it('reads rates in minutes, hours or days', () => {
    const settings = settingsOf({ rollupRate: '5 minutes', billingPullRate: '2h' });
    expect(settings.rates['kpi-rollup'].toMinutes()).toBe(5);
    expect(settings.rates['billing-pull'].toMinutes()).toBe(120);
    expect(settingsOf({ billingPullRate: '1d' }).rates['billing-pull'].toMinutes()).toBe(1440);
  });

  it('refuses what EventBridge Scheduler or CloudFormation would not take', () => {
    expect(() => settingsOf({ rollupRate: 'often' })).toThrow(StageContextError);
    expect(() => settingsOf({ rollupRate: '0m' })).toThrow(/whole number of minutes/);
    expect(() => settingsOf({ stage: 'Prod_1' })).toThrow(/lowercase/);
    expect(() => settingsOf({ apiRateLimit: '-5' })).toThrow(/apiRateLimit/);
    expect(() => settingsOf({ domainName: 'api.example.com' })).toThrow(/give both or neither/);
    expect(() => settingsOf({ certificateArn: CERTIFICATE_ARN })).toThrow(/give both or neither/);
    expect(() =>
      settingsOf({ domainName: 'https://api.example.com', certificateArn: CERTIFICATE_ARN }),
    ).toThrow(/domainName: expected a lowercase hostname/);
    expect(() =>
      settingsOf({ domainName: 'api.example.com', certificateArn: 'arn:aws:iam::1:role/x' }),
    ).toThrow(/certificateArn: expected an ACM certificate ARN/);
    expect(() => settingsOf({ tracing: 'yes' })).toThrow(/tracing: expected true or false/);
    expect(settingsOf({ tracing: 'false' }).tracing).toBe(false);
    expect(
      settingsOf({ domainName: 'api.example.com', certificateArn: CERTIFICATE_ARN }).customDomain,
    ).toEqual({
      domainName: 'api.example.com',
      certificateArn: CERTIFICATE_ARN,
    });
  });
});
