// Scenario 8: queryChannels as a user.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, uniqueId } from '../harness.js';

const eddy = useEddy();

test('queryChannels filters by membership and sorts by last_message_at', async () => {
  await eddy.server.upsertUsers([{ id: 'alice' }, { id: 'bob' }, { id: 'carol' }]);
  const { client: alice } = await eddy.connect({ id: 'alice' });
  const { client: bob } = await eddy.connect({ id: 'bob' });

  const ids = { a: uniqueId('qa'), b: uniqueId('qb'), c: uniqueId('qc') };
  const chans = {};
  for (const [k, id] of Object.entries(ids)) {
    chans[k] = alice.channel('messaging', id, { members: ['alice', 'bob'] });
    await chans[k].create();
  }
  const other = alice.channel('messaging', uniqueId('qother'), { members: ['alice', 'carol'] });
  await other.create();
  await other.sendMessage({ text: 'not for bob' });

  // Message order b, a, c => newest first: c, a, b.
  await chans.b.sendMessage({ text: 'in b' });
  await chans.a.sendMessage({ text: 'in a' });
  await chans.c.sendMessage({ text: 'in c' });
  const expectedOrder = [chans.c.cid, chans.a.cid, chans.b.cid];

  const raw = await bob.queryChannelsRequest(
    { members: { $in: ['bob'] } },
    { last_message_at: -1 },
    { message_limit: 10 },
  );
  assert.deepEqual(raw.map((c) => c.channel.cid), expectedOrder);
  const textOf = { [chans.a.cid]: 'in a', [chans.b.cid]: 'in b', [chans.c.cid]: 'in c' };
  for (const st of raw) {
    const cid = st.channel.cid;
    assert.deepEqual(st.messages.map((m) => m.text), [textOf[cid]], `messages of ${cid}`);
    assert.deepEqual(st.members.map((m) => m.user.id).sort(), ['alice', 'bob'], `members of ${cid}`);
    assert.ok(Array.isArray(st.read), `read of ${cid} must be an array`);
    const bobRead = st.read.find((r) => r.user.id === 'bob');
    assert.ok(bobRead, `read of ${cid} must include bob`);
    assert.equal(bobRead.unread_messages, 1);
    assert.ok(
      Array.isArray(st.channel.own_capabilities) && st.channel.own_capabilities.length > 0,
      `own_capabilities of ${cid} must be a non-empty array`,
    );
    assert.ok(st.channel.own_capabilities.includes('send-message'));
    assert.equal(st.channel.member_count, 2);
    assert.equal(typeof st.channel.last_message_at, 'string');
  }

  // Ascending order is the reverse.
  const asc = await bob.queryChannelsRequest(
    { members: { $in: ['bob'] } },
    [{ last_message_at: 1 }],
    {},
  );
  assert.deepEqual(asc.map((c) => c.channel.cid), [...expectedOrder].reverse());

  // The SDK's hydrated Channel objects.
  const hydrated = await bob.queryChannels({ members: { $in: ['bob'] } }, { last_message_at: -1 });
  assert.deepEqual(hydrated.map((c) => c.cid), expectedOrder);
  assert.equal(hydrated[0].state.messages.at(-1).text, 'in c');
  assert.ok(hydrated[0].state.members.alice && hydrated[0].state.members.bob);
  assert.equal(hydrated[0].countUnread(), 1);
  assert.ok(hydrated[0].data.own_capabilities.length > 0);
});
