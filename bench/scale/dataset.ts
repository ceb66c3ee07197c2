/**
 * The shape of the scale benchmark's data, shared by setup, seeding and the load generator:
 * APPS apps × {@link ENVS_PER_APP} envs × {@link SECRETS_PER_ENV} secrets, so 100,000 secrets are
 * 1,000 apps and 10,000 envs, and 100 secrets (the baseline) are app0000's ten envs. One workload
 * identity per env: identity n is app n/10, env n%10.
 */
export const ENVS_PER_APP = 10;
export const SECRETS_PER_ENV = 10;

export const appName = (i: number) => `app${String(i).padStart(4, '0')}`;
export const envName = (i: number) => `env${i}`;
export const secretName = (i: number) => `SECRET_${String(i).padStart(2, '0')}`;

/** Apps holding `secrets` secrets (a multiple of one app's 100). */
export function appsFor(secrets: number): number {
  const perApp = ENVS_PER_APP * SECRETS_PER_ENV;
  if (!Number.isInteger(secrets) || secrets < perApp || secrets % perApp !== 0) throw new TypeError(`secrets must be a multiple of ${perApp}`);
  return secrets / perApp;
}

/** Identities the load generator reads with (app0000's ten envs: present in the baseline too). */
export const LOADGEN_IDENTITIES = ENVS_PER_APP;
