import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { AssetHashType, DockerImage, Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, type IMetric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { EventBus } from 'aws-cdk-lib/aws-events';
import type { Key } from 'aws-cdk-lib/aws-kms';
import { Architecture, Code, Function as LambdaFunction, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Topic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { BUNDLE_FILE, LAMBDA_NODE_OPTIONS } from './bundling.js';
import type { FunctionGrants } from './functions.js';
import type { StageSettings } from './stage.js';

/**
 * The environment variables the construct sets, named as shared/config reads them. A function
 * gets a variable only with the grant that makes it usable.
 */
export const FUNCTION_ENV = {
  tableName: 'TOLLGATE_TABLE_NAME',
  eventBusName: 'TOLLGATE_EVENT_BUS_NAME',
  retryQueueUrl: 'TOLLGATE_WEBHOOK_RETRY_QUEUE_URL',
  credentialsKeyId: 'TOLLGATE_CREDENTIALS_KMS_KEY_ID',
  operatorKeySecretArn: 'TOLLGATE_OPERATOR_KEY_SECRET_ARN',
} as const;

/**
 * The data-plane calls the data layer makes (shared/db), and no others: no Scan (the design
 * forbids it on request paths), no transactions, no PartiQL, no table management.
 */
export const TABLE_ACTIONS = {
  read: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'],
  readWrite: [
    'dynamodb:GetItem',
    'dynamodb:BatchGetItem',
    'dynamodb:Query',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:BatchWriteItem',
  ],
} as const;

/** The stack's shared resources a function can be granted. */
export interface TollgateResources {
  settings: StageSettings;
  /** The repository root; entries are relative to it. */
  root: string;
  table: TableV2;
  bus: EventBus;
  retryQueue: Queue;
  credentialsKey: Key;
  operatorKeySecret: Secret;
  alarmTopic: Topic;
}

export interface TollgateFunctionProps {
  name: string;
  entry: string;
  purpose: string;
  grants: FunctionGrants;
  memorySize: number;
  timeoutSeconds: number;
  resources: TollgateResources;
}

/**
 * One Tollgate Lambda: Node 22 on arm64, bundled with the shared options, its own log group with
 * the stage's retention, the environment and IAM of exactly its grants, and alarms on its errors
 * and throttles. Adding a function is one of these.
 */
export class TollgateFunction extends Construct {
  readonly function: LambdaFunction;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: TollgateFunctionProps) {
    super(scope, id);
    const { resources, grants } = props;
    const { settings } = resources;
    const functionName = `tollgate-${settings.stage}-${props.name}`;

    this.logGroup = new LogGroup(this, 'Logs', {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: settings.logRetention,
      removalPolicy: settings.removalPolicy,
    });

    this.function = new LambdaFunction(this, 'Function', {
      functionName,
      description: props.purpose,
      code: bundledCode(resources.root, props.entry),
      handler: `${BUNDLE_FILE.replace(/\.mjs$/, '')}.handler`,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      ...(settings.tracing ? { tracing: Tracing.ACTIVE } : {}),
      memorySize: props.memorySize,
      timeout: Duration.seconds(props.timeoutSeconds),
      logGroup: this.logGroup,
      environment: {
        ...environmentFor(grants, resources),
        ...(LAMBDA_NODE_OPTIONS ? { NODE_OPTIONS: LAMBDA_NODE_OPTIONS } : {}),
      },
    });

    this.#grant(grants, resources);
    const period = Duration.minutes(5);
    this.#alarm(functionName, 'errors', this.function.metricErrors({ period, statistic: 'Sum' }), resources);
    this.#alarm(
      functionName,
      'throttles',
      this.function.metricThrottles({ period, statistic: 'Sum' }),
      resources,
    );
  }

  #grant(grants: FunctionGrants, resources: TollgateResources): void {
    // TableV2's grants name the table and `table/index/*`, so queries on the indexes work.
    resources.table.grant(this.function, ...TABLE_ACTIONS[grants.table]);
    if (grants.bus) resources.bus.grantPutEventsTo(this.function);
    if (grants.retryQueue) resources.retryQueue.grantSendMessages(this.function);
    if (grants.credentialsKey === 'dataKeys') {
      resources.credentialsKey.grant(this.function, 'kms:GenerateDataKey', 'kms:Decrypt');
    } else if (grants.credentialsKey === 'decrypt') {
      resources.credentialsKey.grantDecrypt(this.function);
    }
    if (grants.operatorSecret) resources.operatorKeySecret.grantRead(this.function);
  }

  #alarm(functionName: string, what: 'errors' | 'throttles', metric: IMetric, resources: TollgateResources) {
    const alarm = new Alarm(this, what === 'errors' ? 'ErrorsAlarm' : 'ThrottlesAlarm', {
      alarmName: `${functionName}-${what}`,
      alarmDescription: `${functionName}: Lambda ${what} in the last 5 minutes (README, Operate)`,
      metric,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new SnsAction(resources.alarmTopic));
  }
}

/**
 * The function's code: infra/bundling.ts run by infra/bundle-cli.ts (CDK's NodejsFunction takes
 * neither esbuild plugins nor code splitting). Bundled on this machine, with no Docker; the asset
 * is fingerprinted by its output, so the repository itself is never hashed or copied.
 */
function bundledCode(root: string, entry: string): Code {
  const cli = join(root, 'infra', 'bundle-cli.ts');
  return Code.fromAsset(root, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Only if local bundling declined, which it never does: the same CLI in AWS's build image.
      // The command names the entry, which also keeps the functions' assets apart: CDK caches
      // bundles by their options, and it cannot see the local bundler's arguments.
      image: DockerImage.fromRegistry('public.ecr.aws/sam/build-nodejs22.x'),
      command: ['npx', 'tsx', 'infra/bundle-cli.ts', entry, '/asset-output'],
      local: {
        tryBundle(outputDir: string): boolean {
          try {
            execFileSync(process.execPath, ['--import', 'tsx', cli, join(root, entry), outputDir], {
              cwd: root,
              stdio: ['ignore', 'inherit', 'pipe'],
              encoding: 'utf8',
            });
          } catch (error) {
            const stderr = (error as { stderr?: string }).stderr?.trim();
            throw new Error(`bundling ${entry} failed:\n${stderr || String(error)}`);
          }
          return true;
        },
      },
    },
  });
}

function environmentFor(grants: FunctionGrants, resources: TollgateResources): Record<string, string> {
  return {
    [FUNCTION_ENV.tableName]: resources.table.tableName,
    ...(grants.bus ? { [FUNCTION_ENV.eventBusName]: resources.bus.eventBusName } : {}),
    ...(grants.retryQueue ? { [FUNCTION_ENV.retryQueueUrl]: resources.retryQueue.queueUrl } : {}),
    ...(grants.credentialsKey ? { [FUNCTION_ENV.credentialsKeyId]: resources.credentialsKey.keyArn } : {}),
    ...(grants.operatorSecret
      ? { [FUNCTION_ENV.operatorKeySecretArn]: resources.operatorKeySecret.secretArn }
      : {}),
  };
}
