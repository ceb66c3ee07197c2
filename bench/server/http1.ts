/** Parses HTTP/1.1 responses off a byte stream, for the load generators (bench/server, bench/scale). */
export function responseParser(onResponse: (status: number, body: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      const headerEnd = buf.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const head = buf.subarray(0, headerEnd).toString('latin1');
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (!m) throw new Error('response without content-length');
      const total = headerEnd + 4 + Number(m[1]);
      if (buf.length < total) return;
      onResponse(Number(head.slice(9, 12)), buf.subarray(headerEnd + 4, total));
      buf = buf.subarray(total);
    }
  };
}
