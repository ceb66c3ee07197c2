/** `ward keyprovider`: ocicrypt's key-provider protocol on stdin/stdout, keys held by the Ward server. */
import type { Command } from 'commander';
import { addContextOptions } from '../context.ts';

const HELP = `
ocicrypt (containerd's imgcrypt, CRI-O, skopeo, podman) runs this command for the key provider
named in ocicrypt.conf ($OCICRYPT_KEYPROVIDER_CONFIG):

  {"key-providers": {"ward": {"cmd": {"path": "/usr/bin/ward", "args": ["keyprovider"]}}}}

keywrap:   --encryption-key provider:ward:APP/ENV/NAME wraps the layer key to the public key of
           the private key held in the secret APP/ENV/NAME (the caller must be able to read it)
keyunwrap: fetches that private key over mTLS with this machine's identity and unwraps the layer
           key; a workload the server does not let read the secret gets an error (exit 4), no key

The server and identity come from WARD_SERVER and WARD_IDENTITY (or the flags, or the
deployment's ward.toml). Images encrypted by \`ward image copy --encryption-key ward:APP/ENV/NAME\`
use the same annotation (org.opencontainers.image.enc.keys.provider.ward). See docs/images.md.`;

export function register(program: Command): void {
  addContextOptions(
    program
      .command('keyprovider')
      .description('ocicrypt key-provider protocol on stdin/stdout, with image keys held by the Ward server'),
  )
    .option('--name <NAME>', 'the provider name used in ocicrypt.conf and --encryption-key provider:NAME:…', 'ward')
    .addHelpText('after', HELP)
    .action(async (flags: { name: string; server?: string[]; identity?: string; config?: string }) => {
      const { runKeyProvider } = await import('../keyprovider.ts');
      await runKeyProvider(flags);
    });
}
