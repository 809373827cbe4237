import { join } from 'node:path';
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  ApiMapping,
  DomainName,
  HttpApi,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import {
  Alarm,
  ComparisonOperator,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AttributeType, Billing, ProjectionType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, Match, Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Key } from 'aws-cdk-lib/aws-kms';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { EVENT_SOURCE } from '../shared/bus/bus.js';
import { GLOBAL_SECONDARY_INDEXES, TABLE_KEYS, TTL_ATTRIBUTE } from '../shared/db/table.js';
import { availableFunctions, type FunctionSpec, type FunctionTrigger } from './functions.js';
import { CONTEXT_KEYS, type StageSettings } from './stage.js';
import { TollgateFunction, type TollgateResources } from './tollgate-function.js';

export interface TollgateStackProps extends StackProps {
  settings: StageSettings;
  /** The functions to build; by default every row of infra/functions.ts whose handler exists. */
  functions?: readonly FunctionSpec[];
}

export const ROOT = join(import.meta.dirname, '..');

/** The fields of an API access log line (API Gateway's `$context` variables). */
export const API_ACCESS_LOG_FIELDS = {
  request_id: '$context.requestId',
  time: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  method: '$context.httpMethod',
  path: '$context.path',
  status: '$context.status',
  protocol: '$context.protocol',
  response_length: '$context.responseLength',
  response_latency_ms: '$context.responseLatency',
  integration_latency_ms: '$context.integrationLatency',
  integration_error: '$context.integrationErrorMessage',
  error: '$context.error.message',
};

/** A message is received this many times (attempted and failed) before it goes to the DLQ. */
export const RETRY_QUEUE_MAX_RECEIVES = 5;
/** Event deliveries from EventBridge to a function: retried this often, then to the DLQ. */
export const BUS_TARGET_RETRY_ATTEMPTS = 8;

/** EventBridge Scheduler keeps an undelivered invocation at most a day. */
const MAX_SCHEDULER_EVENT_AGE_SECONDS = 86_400;

const RATE_CONTEXT_KEY = {
  'kpi-rollup': CONTEXT_KEYS.rollupRate,
  'billing-pull': CONTEXT_KEYS.billingPullRate,
};

/**
 * Tollgate on AWS. The table's keys and indexes come from shared/db, the same definitions the
 * code and the local engines use, so they cannot drift; every function comes from one table
 * (infra/functions.ts) through one construct (infra/tollgate-function.ts).
 */
export class TollgateStack extends Stack {
  readonly table: TableV2;
  readonly functions = new Map<string, TollgateFunction>();

  constructor(scope: Construct, id: string, props: TollgateStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const prefix = `tollgate-${settings.stage}`;

    this.table = new TableV2(this, 'Table', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: AttributeType.STRING },
      globalSecondaryIndexes: GLOBAL_SECONDARY_INDEXES.map((index) => ({
        indexName: index.indexName,
        partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
        sortKey: { name: index.sortKey, type: AttributeType.STRING },
        projectionType: index.projection === 'ALL' ? ProjectionType.ALL : ProjectionType.KEYS_ONLY,
      })),
      billing: Billing.onDemand(),
      timeToLiveAttribute: TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: settings.production,
      removalPolicy: settings.removalPolicy,
    });

    const alarmTopic = new Topic(this, 'AlarmTopic', { topicName: `${prefix}-alarms` });
    if (settings.alarmEmail) alarmTopic.addSubscription(new EmailSubscription(settings.alarmEmail));

    const bus = new EventBus(this, 'Bus', { eventBusName: prefix });

    // Webhook retries wait in the retry queue (SQS delays); what keeps failing lands in the DLQ,
    // as do bus events that could not be handed to their function.
    const deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      queueName: `${prefix}-dead-letters`,
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    const retryQueue = new Queue(this, 'RetryQueue', {
      queueName: `${prefix}-webhook-retries`,
      retentionPeriod: Duration.days(14),
      // Six times the consumer's timeout, as Lambda's SQS event source asks.
      visibilityTimeout: Duration.minutes(6),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: RETRY_QUEUE_MAX_RECEIVES },
    });

    const credentialsKey = new Key(this, 'CredentialsKey', {
      alias: `alias/${prefix}-provider-credentials`,
      description: 'Wraps the data keys that encrypt tenants’ provider credentials',
      enableKeyRotation: true,
      removalPolicy: settings.removalPolicy,
      pendingWindow: Duration.days(settings.production ? 30 : 7),
    });

    const operatorKeySecret = new Secret(this, 'OperatorKey', {
      secretName: `${prefix}/operator-key`,
      description: 'The Tollgate operator key (rotate with put-secret-value; see README, Deploy)',
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
      removalPolicy: settings.removalPolicy,
    });

    const resources: TollgateResources = {
      settings,
      root: ROOT,
      table: this.table,
      bus,
      retryQueue,
      credentialsKey,
      operatorKeySecret,
      alarmTopic,
    };

    const specs = props.functions ?? availableFunctions(ROOT);
    let httpApi: HttpApi | undefined;
    for (const spec of specs) {
      const built = new TollgateFunction(this, constructId(spec.name), { ...spec, resources });
      this.functions.set(spec.name, built);
      for (const trigger of spec.triggers) {
        const api = this.#trigger(built, spec, trigger, resources, deadLetterQueue);
        if (api) httpApi = api;
      }
    }

    this.#alarm(alarmTopic, 'DeadLetters', {
      alarmName: `${prefix}-dead-letters`,
      alarmDescription:
        'Messages in the dead-letter queue: redrive them once the cause is fixed (README, Operate)',
      metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
    });
    this.#alarm(alarmTopic, 'TableThrottles', {
      alarmName: `${prefix}-table-throttles`,
      alarmDescription: 'DynamoDB throttled reads or writes on the table or an index (README, Operate)',
      metric: this.#tableThrottles(),
    });

    if (httpApi) {
      const { customDomain } = props.settings;
      new CfnOutput(this, 'ApiUrl', {
        value: customDomain ? `https://${customDomain.domainName}` : httpApi.apiEndpoint,
      });
    }
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'EventBusName', { value: bus.eventBusName });
    new CfnOutput(this, 'OperatorKeySecretArn', { value: operatorKeySecret.secretArn });
    new CfnOutput(this, 'CredentialsKeyArn', { value: credentialsKey.keyArn });
    new CfnOutput(this, 'RetryQueueUrl', { value: retryQueue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: deadLetterQueue.queueUrl });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarmTopic.topicArn });
  }

  #trigger(
    built: TollgateFunction,
    spec: FunctionSpec,
    trigger: FunctionTrigger,
    resources: TollgateResources,
    deadLetterQueue: Queue,
  ): HttpApi | undefined {
    const id = constructId(spec.name);
    switch (trigger.kind) {
      case 'http': {
        const { customDomain } = resources.settings;
        const api = new HttpApi(this, 'HttpApi', {
          apiName: `tollgate-${resources.settings.stage}`,
          defaultIntegration: new HttpLambdaIntegration(`${id}Integration`, built.function),
          createDefaultStage: false,
          // With a domain of its own, the API answers there only: one URL for keys, docs and logs.
          disableExecuteApiEndpoint: customDomain !== undefined,
        });
        // One JSON line per request, before Lambda: throttled (429) and rejected requests, which
        // never reach the function's own logs, show here with API Gateway's request id.
        const accessLogs = new LogGroup(this, 'HttpApiAccessLogs', {
          logGroupName: `/aws/apigateway/tollgate-${resources.settings.stage}-api`,
          retention: resources.settings.logRetention,
          removalPolicy: resources.settings.removalPolicy,
        });
        const stage = new HttpStage(this, 'HttpApiStage', {
          httpApi: api,
          stageName: '$default',
          autoDeploy: true,
          throttle: resources.settings.apiThrottle,
          accessLogSettings: {
            destination: new LogGroupLogDestination(accessLogs),
            format: AccessLogFormat.custom(JSON.stringify(API_ACCESS_LOG_FIELDS)),
          },
        });
        if (customDomain) {
          const domain = new DomainName(this, 'ApiDomain', {
            domainName: customDomain.domainName,
            certificate: Certificate.fromCertificateArn(this, 'ApiCertificate', customDomain.certificateArn),
          });
          new ApiMapping(this, 'ApiMapping', { api, domainName: domain, stage });
          // Where the domain's DNS record points (a CNAME, or an alias with the hosted zone).
          new CfnOutput(this, 'ApiDomainTarget', { value: domain.regionalDomainName });
          new CfnOutput(this, 'ApiDomainHostedZoneId', { value: domain.regionalHostedZoneId });
        }
        return api;
      }
      case 'schedule': {
        const rate = resources.settings.rates[trigger.job];
        new Schedule(this, `${id}Schedule`, {
          description: `Runs ${trigger.job} (rate: -c ${RATE_CONTEXT_KEY[trigger.job]})`,
          schedule: ScheduleExpression.rate(rate),
          target: new LambdaInvoke(built.function, {
            // Every tenant (the handler also takes {"tenant_id": …} when invoked by hand).
            input: ScheduleTargetInput.fromObject({}),
            // A missed run is covered by the next one: jobs are incremental and idempotent.
            retryAttempts: 2,
            maxEventAge: Duration.seconds(Math.min(rate.toSeconds(), MAX_SCHEDULER_EVENT_AGE_SECONDS)),
          }),
        });
        return undefined;
      }
      case 'bus':
        new Rule(this, `${id}BusRule`, {
          eventBus: resources.bus,
          description: `${trigger.detailTypePrefixes.join(' ')} events to ${spec.name}`,
          eventPattern: {
            source: [EVENT_SOURCE],
            detailType: trigger.detailTypePrefixes.flatMap((prefix) => Match.prefix(prefix)),
          },
          targets: [
            new LambdaFunction(built.function, {
              deadLetterQueue,
              retryAttempts: BUS_TARGET_RETRY_ATTEMPTS,
              maxEventAge: Duration.hours(24),
            }),
          ],
        });
        return undefined;
      case 'queue':
        built.function.addEventSource(
          new SqsEventSource(resources.retryQueue, {
            batchSize: trigger.batchSize,
            reportBatchItemFailures: true,
          }),
        );
        return undefined;
    }
  }

  /** Read and write throttles of the table and of each index, summed. */
  #tableThrottles(): MathExpression {
    const metrics: Record<string, Metric> = {};
    const scopes = [undefined, ...GLOBAL_SECONDARY_INDEXES.map((index) => index.indexName)];
    for (const [i, indexName] of scopes.entries()) {
      for (const metricName of ['ReadThrottleEvents', 'WriteThrottleEvents']) {
        metrics[`${metricName === 'ReadThrottleEvents' ? 'r' : 'w'}${i}`] = new Metric({
          namespace: 'AWS/DynamoDB',
          metricName,
          dimensionsMap: {
            TableName: this.table.tableName,
            ...(indexName ? { GlobalSecondaryIndexName: indexName } : {}),
          },
          statistic: 'Sum',
          period: Duration.minutes(5),
        });
      }
    }
    return new MathExpression({
      expression: Object.keys(metrics).join(' + '),
      usingMetrics: metrics,
      label: 'DynamoDB throttle events',
      period: Duration.minutes(5),
    });
  }

  #alarm(
    topic: Topic,
    id: string,
    props: { alarmName: string; alarmDescription: string; metric: Metric | MathExpression },
  ): Alarm {
    const alarm = new Alarm(this, `${id}Alarm`, {
      ...props,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new SnsAction(topic));
    return alarm;
  }
}

/** `kpi-rollup` → `KpiRollup`: construct ids stay stable as long as the row's name does. */
function constructId(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
