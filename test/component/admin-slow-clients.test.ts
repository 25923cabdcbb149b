// The admin port under slow and oversized requests (issue 11 item 4, SPEC §10): a slowloris client
// holding many connections does not stop /healthz/ready, its connections are closed once the header
// time runs out, and a request with oversized headers is refused.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { AdminServer } from '../../src/admin/index.js';

const source = { readiness: () => ({ ready: true, waiting: [] }) } as never;

describe('admin API: slow and oversized requests', () => {
  it('500 connections that never finish their headers: /healthz/ready answers, and they are closed', {
    timeout: 20_000,
  }, async () => {
    const admin = new AdminServer({ host: '127.0.0.1', port: 0, headersTimeoutMs: 500 }, source);
    await admin.start();
    const slow: net.Socket[] = [];
    try {
      const closed: Promise<void>[] = [];
      for (let i = 0; i < 500; i++) {
        const s = net.connect(admin.port, '127.0.0.1', () =>
          s.write('GET /healthz/ready HTTP/1.1\r\nHost: x\r\n'),
        );
        s.on('error', () => {});
        // Read what the server sends (its 408), so its closing is seen.
        s.resume();
        closed.push(new Promise((resolve) => s.once('close', () => resolve())));
        slow.push(s);
      }
      const res = await fetch(`http://127.0.0.1:${admin.port}/healthz/ready`);
      await res.text();
      assert.equal(res.status, 200);
      // Positive signal: every slow connection is closed by the server (bounded by the test's timeout).
      await Promise.all(closed);
    } finally {
      for (const s of slow) s.destroy();
      await admin.close();
    }
  });

  it('headers over 8 KiB are refused with 431', async () => {
    const admin = new AdminServer({ host: '127.0.0.1', port: 0 }, source);
    await admin.start();
    try {
      const res = await fetch(`http://127.0.0.1:${admin.port}/healthz/ready`, {
        headers: { 'x-big': 'a'.repeat(10_000) },
      });
      await res.text();
      assert.equal(res.status, 431);
    } finally {
      await admin.close();
    }
  });
});
