import { App } from 'aws-cdk-lib';
import { stageSettings } from './stage.js';
import { TollgateStack } from './tollgate-stack.js';

/** `npm run synth` / `cdk deploy -c stage=prod`: one stack per stage, settings from context. */
const app = new App();
const settings = stageSettings((key) => app.node.tryGetContext(key));
new TollgateStack(app, `Tollgate-${settings.stage}`, {
  settings,
  description: `Tollgate (${settings.stage}): token-native FinOps API`,
});
