import { Client, Connection } from '@temporalio/client';
import { loadConfig, temporalConnectOptions } from './src/config';
import { chaosEnvironment } from './test/helpers/chaos-platform';
import { getStatusQuery } from './workflows/definitions';
import { workflowIdOf } from './src/domain/spec';
import { FlinkRestClient } from './src/adapters/flink';
(async () => {
  const config = loadConfig(chaosEnvironment());
  const c = new Client({ connection: await Connection.connect(temporalConnectOptions(config.temporal.connection)), namespace: config.temporal.namespace });
  for (const id of ['orders.orders_curated','payments.payments_curated','customers.profiles_masked']) {
    const s = await c.workflow.getHandle(workflowIdOf(id)).query(getStatusQuery).catch((e) => ({ stage: 'ERR '+e.message } as any));
    console.log(id, s.stage, s.degradedBy, JSON.stringify(s.degradeCauses)?.slice(0,300), s.job?.state, s.materialization?.state, JSON.stringify(s.decisions?.slice(-4).map((d:any)=>[d.action,d.by,d.comment?.slice(0,100)])));
  }
  const jobs = await new FlinkRestClient({ url: config.flink.restUrl }).listJobs();
  for (const j of jobs) console.log(j.name, j.state);
  process.exit(0);
})();
