import { App } from 'aws-cdk-lib';
import { TollgateStack } from './tollgate-stack.js';

/** `npm run synth` / `cdk deploy -c stage=prod`: one stack per stage. */
const app = new App();
const stage = (app.node.tryGetContext('stage') as string | undefined) ?? 'dev';
new TollgateStack(app, `Tollgate-${stage}`, { stage });
