import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from './helpers/dynamodb-local.js';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoDbLocalEndpoint: string;
  }
}

/** One DynamoDB Local for the whole run; each test file works in tables of its own. */
export default async function setup(project: TestProject) {
  const dynamo = await startDynamoDbLocal();
  project.provide('dynamoDbLocalEndpoint', dynamo.endpoint);
  return () => dynamo.stop();
}
