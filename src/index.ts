/**
 * The package `ward` as a library. Applications read their secrets with {@link WardClient}:
 *
 *   import { WardClient } from 'ward';
 *   const ward = WardClient.fromEnv();            // WARD_SERVER, WARD_IDENTITY
 *   const { secrets } = await ward.getAll('shop', 'prod');
 *
 * @module
 */
export { WardClient, splitServers, workloadOf, type Secret, type SecretKind, type SecretSet, type WardClientOptions, type WatchOptions, type WhoAmI } from './client/ward-client.ts';
export { loadIdentity, type Identity } from './client/identity.ts';
export { WardError, isWardError, ExitCode, type WardErrorCode } from './errors.ts';
