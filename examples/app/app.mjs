// A stand-in application: says which secrets it received (never their values), re-reads its
// config on SIGHUP (`ward run --watch`), and stops cleanly on SIGTERM.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const files = process.env.WARD_FILES;
function report(event) {
  const names = files ? readdirSync(files) : [];
  const conf = files && names.includes('app.conf') ? readFileSync(join(files, 'app.conf'), 'utf8') : '';
  console.log(`shop: ${event}: pid ${process.pid}, DB_PASSWORD ${process.env.DB_PASSWORD ? 'set' : 'missing'}, files [${names.join(', ')}], app.conf ${conf.includes('postgres://') ? 'rendered' : 'missing'}`);
}

report('started');
process.on('SIGHUP', () => report('reloaded'));
process.on('SIGTERM', () => {
  console.log('shop: stopping');
  process.exit(0);
});
setInterval(() => {}, 1 << 30);
