import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { TollgateStack } from '../../infra/tollgate-stack.js';
import { createTableInput, TTL_ATTRIBUTE } from '../../shared/db/table.js';

describe('the CDK stack', () => {
  let template: Template;
  beforeAll(() => {
    const app = new App();
    template = Template.fromStack(new TollgateStack(app, 'Test', { stage: 'test' }));
  }, 120_000);

  it('builds the table from the same definition the code and local engines use', () => {
    const local = createTableInput('ignored');
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
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
    });
  });

  it('runs the API on Node 22 arm64 behind an HTTP API, with the table and bus in its environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Environment: {
        Variables: Match.objectLike({
          TOLLGATE_TABLE_NAME: Match.anyValue(),
          TOLLGATE_EVENT_BUS_NAME: Match.anyValue(),
        }),
      },
    });
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    expect(Object.keys(template.findResources('AWS::Events::EventBus'))).toHaveLength(1);
  });
});
