/**
 * Runs a command under a pseudo-terminal (python3's pty module) and types `passphrase` + Enter at
 * every prompt that mentions "passphrase": how tests drive `age -p` and Ward's own no-echo prompt,
 * which read only from the terminal. Resolves with the exit code and the terminal transcript.
 */
import { spawn } from 'node:child_process';

const PTY = `
import os, pty, sys
pw = os.environ['PTY_PASSPHRASE'].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
seen, answered = b'', 0
while True:
    try:
        data = os.read(fd, 1024)
    except OSError:
        break
    if not data:
        break
    seen += data
    while seen.lower().count(b'passphrase') > answered:
        os.write(fd, pw + b'\\n')
        answered += 1
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(seen)
sys.exit(os.waitstatus_to_exitcode(status))
`;

export function runWithTty(passphrase: string, argv: string[], cwd: string): Promise<{ code: number | null; transcript: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', PTY, ...argv], { cwd, env: { ...process.env, NO_COLOR: '1', PTY_PASSPHRASE: passphrase }, stdio: ['ignore', 'pipe', 'pipe'] });
    let transcript = '';
    child.stdout.on('data', (b: Buffer) => (transcript += b.toString()));
    child.stderr.on('data', (b: Buffer) => (transcript += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, transcript }));
  });
}
