/**
 * The caller's identity from its TLS connection (src/server/identity.ts): read once per connection,
 * and once per certificate across connections, without letting one trust domain's verdict or a
 * refusal leak into another connection's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { WardError } from '../../src/errors.ts';
import { connectionIdentity } from '../../src/server/identity.ts';
import { makePki, TRUST_DOMAIN } from './helpers.ts';

const pki = await makePki();

/** A verified TLS connection presenting `pem`, counting how often its certificate is read. */
function connection(pem: string | undefined, authorized = true): { socket: Socket; reads: () => number } {
  let reads = 0;
  const socket = {
    authorized,
    getPeerX509Certificate: () => {
      reads++;
      return pem === undefined ? undefined : new X509Certificate(pem);
    },
  } as unknown as Socket;
  return { socket, reads: () => reads };
}

test('a connection is read once; a reconnecting workload gets the same identity without a second parse', async () => {
  const cred = await pki.workload('billing', 'prod', 'cached');
  const a = connection(cred.cert);
  const first = connectionIdentity(a.socket, TRUST_DOMAIN);
  assert.ok(!(first instanceof WardError));
  assert.deepEqual(
    { spiffeId: first.spiffeId, role: first.role, app: first.app, env: first.env, serial: first.serial, notAfter: first.notAfter },
    { spiffeId: cred.spiffeId, role: 'workload', app: 'billing', env: 'prod', serial: cred.serial, notAfter: cred.notAfter.getTime() },
  );
  assert.equal(connectionIdentity(a.socket, TRUST_DOMAIN), first);
  assert.equal(a.reads(), 1);
  // connections share the entry, so nobody may change it
  assert.ok(Object.isFrozen(first));

  const b = connection(cred.cert);
  assert.equal(connectionIdentity(b.socket, TRUST_DOMAIN), first);
  // another certificate is another identity
  const other = await pki.workload('billing', 'prod', 'other');
  const c = connectionIdentity(connection(other.cert).socket, TRUST_DOMAIN);
  assert.ok(!(c instanceof WardError) && c.spiffeId === other.spiffeId && c !== first);
});

test('an identity accepted for one trust domain is refused for another, cached or not', async () => {
  const cred = await pki.workload('billing', 'prod', 'domains');
  assert.ok(!(connectionIdentity(connection(cred.cert).socket, TRUST_DOMAIN) instanceof WardError));
  const elsewhere = connectionIdentity(connection(cred.cert).socket, 'other.test');
  assert.ok(elsewhere instanceof WardError && elsewhere.code === 'ERR_API_UNAUTHENTICATED', String(elsewhere));
});

test('no certificate, or an unverified connection: refused', async () => {
  const none = connectionIdentity(connection(undefined).socket, TRUST_DOMAIN);
  assert.ok(none instanceof WardError && none.code === 'ERR_API_UNAUTHENTICATED');
  const cred = await pki.workload('billing', 'prod', 'unverified');
  const unverified = connection(cred.cert, false);
  const verdict = connectionIdentity(unverified.socket, TRUST_DOMAIN);
  assert.ok(verdict instanceof WardError && verdict.code === 'ERR_API_UNAUTHENTICATED');
  assert.equal(unverified.reads(), 0);
});
