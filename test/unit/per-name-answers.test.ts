// Issue 14 item 5, the answering side: the first query of a name under a per-name wildcard waits for its
// VIP and is answered with it; a refused name (cap, rate, too late) or one upstream does not know is
// forwarded. The allocator here is a fake that swaps in the table holding the name, as the controller's
// view would; the forwarder is a stage that says "forwarded".
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import { QTYPE } from '../../src/dns/index.js';
import { emptyResources } from '../../src/model/index.js';
import { buildNameTable, type NameTable } from '../../src/nametable/index.js';
import {
  PerNameAnswers,
  type PerNameReply,
  Pipeline,
  type Stage,
  TableStage,
} from '../../src/server/index.js';
import { buildQuery } from '../../src/upstream/index.js';
import { serviceEntry } from '../helpers/resources.js';

const scope = { namespace: 'default', clusterDomain: 'cluster.local', searchDomains: [] };
const W = '*.db.example.com';

/** The table with the per-name wildcard, and `names` as hosts with VIPs 240.240.0.1, .2, … */
function table(names: string[]): NameTable {
  const res = emptyResources();
  res.serviceEntries.push(serviceEntry('default', 'dbs', [W], { resolution: 'DNS' }));
  for (const n of names)
    res.serviceEntries.push(serviceEntry('default', 'dbs', [n], { resolution: 'DNS', perNameOf: W }));
  const vips = (_se: unknown, host: string) => {
    const i = names.indexOf(host);
    return i < 0 ? undefined : { v4: `240.240.0.${i + 1}`, v6: `2001:2::${i + 1}` };
  };
  return buildNameTable(res, scope, vips, (_se, host) => host === W);
}

const FORWARDED = Buffer.from('forwarded');
const forward: Stage = { name: 'upstream', handle: () => FORWARDED };

function setup(reply: (name: string) => PerNameReply | Promise<PerNameReply>, exists = true) {
  const stage = new TableStage();
  stage.set(table([]));
  const asked: string[] = [];
  const refused: string[] = [];
  stage.perName = new PerNameAnswers({
    client: {
      ask: async (name, wildcard) => {
        asked.push(`${name} under ${wildcard}`);
        const r = await reply(name);
        if (r === 'allocated') stage.set(table([name]));
        return r;
      },
    },
    table: () => stage.current(),
    timeoutMs: 50,
    exists: async () => exists,
    refused: (why, name) => refused.push(`${why} ${name}`),
  });
  const pipeline = new Pipeline([stage, forward]);
  const ask = async (name: string, qtype: number = QTYPE.A) => {
    const out = await pipeline.answer(buildQuery(name, qtype, 7), 'udp');
    if (out === FORWARDED) return 'forwarded';
    const answers = dnsPacket.decode(out!).answers ?? [];
    return answers.map((a) => String((a as { data: unknown }).data)).join(' ') || 'nodata';
  };
  return { stage, asked, refused, ask };
}

describe('per-name answers', () => {
  it('the first query is answered with the VIP; the next from the table, asking nothing', async () => {
    const t = setup(() => 'allocated');
    assert.equal(await t.ask('a.db.example.com'), '240.240.0.1');
    assert.equal(await t.ask('a.db.example.com', QTYPE.AAAA), '2001:2::1');
    assert.deepEqual(t.asked, ['a.db.example.com under *.db.example.com']);
    assert.deepEqual(t.stage.perName?.takeTouched(), ['a.db.example.com']);
  });

  it('first queries of one name asked together share one request', async () => {
    const t = setup(() => 'allocated');
    const both = await Promise.all([t.ask('a.db.example.com'), t.ask('a.db.example.com')]);
    assert.deepEqual(both, ['240.240.0.1', '240.240.0.1']);
    assert.equal(t.asked.length, 1);
  });

  const refusals: { reply: PerNameReply | 'late'; counted: string[] }[] = [
    { reply: 'cap', counted: ['cap b.db.example.com'] },
    { reply: 'rate', counted: ['rate b.db.example.com'] },
    { reply: 'unknown', counted: ['unknown b.db.example.com'] },
    { reply: 'late', counted: ['timeout b.db.example.com'] },
  ];
  for (const c of refusals) {
    it(`a name refused (${c.reply}) is forwarded and counted`, async () => {
      const t = setup(() =>
        c.reply === 'late'
          ? new Promise<PerNameReply>((r) => setTimeout(() => r('rate'), 200))
          : (c.reply as PerNameReply),
      );
      assert.equal(await t.ask('b.db.example.com'), 'forwarded');
      assert.deepEqual(t.refused, c.counted);
    });
  }

  it('a name upstream does not know is forwarded, never allocated nor counted', async () => {
    const t = setup(() => 'allocated', false);
    assert.equal(await t.ask('nope.db.example.com'), 'forwarded');
    assert.deepEqual([t.asked, t.refused], [[], []]);
  });

  it('other types are forwarded without asking', async () => {
    const t = setup(() => 'allocated');
    assert.equal(await t.ask('a.db.example.com', QTYPE.MX), 'forwarded');
    assert.deepEqual(t.asked, []);
  });
});
