/**
 * Prepares the scale benchmark in DIR: a deployment (ward init's library) and the records of
 * IDENTITIES workload certificates, one per APP/ENV in dataset order (app0000/env0, app0000/env1,
 * …). The first {@link LOADGEN_IDENTITIES} (app0000's envs, the ones the load generator uses) are
 * real certificates issued by the deployment CA, sharing one key pair (DIR/workload/key.pem); the
 * others are records only (random serial and fingerprint): issuing costs ~25 ms of CPU a
 * certificate here, and nothing in the read path opens a record (revocation is an in-memory set of
 * serials). Writes DIR/identities.jsonl: a CertificateRecord a line, with `certPem` for the real ones.
 *
 *   node bench/scale/setup.ts DIR [IDENTITIES=10000]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { initDeployment } from '../../src/deployment.ts';
import { loadConfig } from '../../src/config.ts';
import { generateKeyPair, issueCertificate, loadCA } from '../../src/pki/index.ts';
import { appName, envName, ENVS_PER_APP, LOADGEN_IDENTITIES } from './dataset.ts';

const [dir, count = '10000'] = process.argv.slice(2);
if (!dir) throw new Error('usage: setup.ts DIR [IDENTITIES]');
const identities = Number(count);

const deployment = await initDeployment({ dir: join(dir, 'deployment') });
const config = loadConfig(deployment.configPath);
const ca = loadCA(readFileSync(config.ca.cert, 'utf8'), readFileSync(config.ca.key!, 'utf8'));
const pair = generateKeyPair();
mkdirSync(join(dir, 'workload'), { recursive: true });
writeFileSync(join(dir, 'workload/key.pem'), pair.privateKeyPem, { mode: 0o600 });

const started = performance.now();
const lines: string[] = [];
for (let n = 0; n < identities; n++) {
  const app = appName(Math.floor(n / ENVS_PER_APP));
  const env = envName(n % ENVS_PER_APP);
  const record = { name: `${app}-${env}`, app, env, role: 'workload', revokedAt: null };
  if (n < LOADGEN_IDENTITIES) {
    const c = await issueCertificate({ ca, role: 'workload', name: 'w0', app, env, publicKey: pair.publicKeyPem });
    lines.push(JSON.stringify({
      ...record,
      serial: c.serial,
      spiffeId: c.spiffeId,
      notBefore: c.notBefore.getTime(),
      notAfter: c.notAfter.getTime(),
      fingerprint: c.fingerprint,
      issuedAt: c.notBefore.getTime(),
      certPem: c.certPem,
    }));
  } else {
    const now = Date.now();
    lines.push(JSON.stringify({
      ...record,
      serial: randomBytes(16).toString('hex').replace(/^[89a-f]/, '1'),
      spiffeId: `spiffe://${ca.trustDomain}/app/${app}/env/${env}/w0`,
      notBefore: now,
      notAfter: now + 720 * 3_600_000,
      fingerprint: `sha256:${createHash('sha256').update(randomBytes(32)).digest('hex')}`,
      issuedAt: now,
    }));
  }
}
writeFileSync(join(dir, 'identities.jsonl'), `${lines.join('\n')}\n`);
console.log(JSON.stringify({
  config: deployment.configPath,
  identities,
  issueSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
}));
