import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createKafkaClient } from '../src/adapters/kafka/client';
import { sampleTopics } from '../src/adapters/kafka/sampler';
import { loadConfig } from '../src/config';
import { securedPlatform, stopSecuredPlatform } from './helpers/secured-platform';
async function main() {
  const p = await securedPlatform();
  const dir = fs.mkdtempSync('/tmp/scr-');
  fs.copyFileSync(p.envFile, `${dir}/.env`);
  fs.appendFileSync(`${dir}/.env`, `MESHLOOP_DATA_DIR=${dir}/data\n`);
  const r = spawnSync('/work/r18-secured/bin/meshloop', ['seed', '--only', 'loyalty,support', '--registry-count', '400', '--topic-prefix', 'sec_x_', '--json'], { cwd: dir, env: { PATH: process.env.PATH, HOME: process.env.HOME }, encoding: 'utf8' });
  console.log(r.status, r.stdout.slice(0, 500), r.stderr.slice(0, 500));
  const config = loadConfig({ ...p.profile, HOME: process.env.HOME });
  const kafka = createKafkaClient({ connection: config.kafka, clientId: 'scr' });
  const admin = kafka.admin(); await admin.connect();
  for (const t of ['sec_x_loyalty.points', 'sec_x_support.tickets']) console.log(t, JSON.stringify(await admin.fetchTopicOffsets(t)));
  await admin.disconnect();
  for (let i = 0; i < 3; i++) {
    let n = 0;
    const res = await sampleTopics(kafka, ['sec_x_loyalty.points', 'sec_x_support.tickets'], { maxMessages: 400, maxBytes: 1e8, deadlineMs: 30000 } as never, { onMessages: (_t, m) => { n += m.length; } });
    console.log(i, n, JSON.stringify(res));
  }
}
main().catch((e) => console.error('FAIL', e)).finally(() => stopSecuredPlatform());
