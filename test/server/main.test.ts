import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config.ts';
import { resolveListen } from '../../src/server/main.ts';
import { WardError } from '../../src/errors.ts';

const config = parseConfig('[server]\nlisten = "127.0.0.1:8443"\nhealth_listen = "127.0.0.1:8080"\n', '/srv/ward/ward.toml');

test('listen addresses: flags win over the environment, which wins over ward.toml', () => {
  const cases: [Parameters<typeof resolveListen>[1], string, string | undefined][] = [
    [{ env: {} }, '127.0.0.1:8443', '127.0.0.1:8080'],
    [{ env: { WARD_LISTEN: '0.0.0.0:9443', WARD_HEALTH_LISTEN: '' } }, '0.0.0.0:9443', undefined],
    [{ env: { WARD_LISTEN: '0.0.0.0:9443' }, listen: '[::1]:7443' }, '::1:7443', '127.0.0.1:8080'],
    [{ env: { WARD_HEALTH_LISTEN: '127.0.0.1:1' }, healthListen: '9090' }, '127.0.0.1:8443', '127.0.0.1:9090'],
    [{ env: {}, listen: '8444' }, '127.0.0.1:8444', '127.0.0.1:8080'],
  ];
  for (const [overrides, api, health] of cases) {
    const r = resolveListen(config, overrides);
    assert.equal(`${r.api.host}:${r.api.port}`, api);
    assert.equal(r.health && `${r.health.host}:${r.health.port}`, health);
  }
  assert.throws(() => resolveListen(config, { env: {}, listen: 'nonsense' }), (e: unknown) => e instanceof WardError && e.code === 'ERR_CONFIG');
});
