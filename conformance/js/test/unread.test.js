// Scenario 5: read receipts and unread counts while watching.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, waitForEvent, waitForEvents, uniqueId } from '../harness.js';

const eddy = useEddy();

test('read receipts and unread counts', async () => {
  const { b: bob, aCh: aliceCh, bCh: bobCh, cid } = await eddy.watchedPair(uniqueId('read'));
  assert.equal(bobCh.getConfig()?.read_events, true, 'messaging config must enable read_events');
  assert.ok(
    Array.isArray(bobCh.data.own_capabilities) && bobCh.data.own_capabilities.includes('read-events'),
    `own_capabilities must include read-events, got ${JSON.stringify(bobCh.data.own_capabilities)}`,
  );
  assert.equal(bobCh.countUnread(), 0);

  const arrived = waitForEvents(bobCh, 'message.new', 3, (e) => e.user?.id === 'alice');
  const sent = [];
  for (let i = 1; i <= 3; i += 1) {
    sent.push((await aliceCh.sendMessage({ text: `unread ${i}` })).message);
  }
  const events = await arrived;
  assert.deepEqual(events.map((e) => e.message.text), ['unread 1', 'unread 2', 'unread 3']);
  assert.equal(bobCh.countUnread(), 3);

  // The server's own bookkeeping agrees.
  const unread = await bob.getUnreadCount();
  assert.equal(unread.total_unread_count, 3);
  const entry = unread.channels.find((c) => c.channel_id === cid);
  assert.ok(entry, `GET /unread must list ${cid}, got ${JSON.stringify(unread.channels)}`);
  assert.equal(entry.unread_count, 3);

  const state = await bobCh.query({ messages: { limit: 10 } });
  const bobRead = state.read.find((r) => r.user.id === 'bob');
  assert.ok(bobRead, 'channel state read[] must include the acting user');
  assert.equal(bobRead.unread_messages, 3);

  // Bob marks the channel read: alice sees message.read, bob's counts reset,
  // and bob's other (non-watching) connection gets notification.mark_read.
  const { client: bobElsewhere } = await eddy.connect({ id: 'bob' });
  const markReadNotice = waitForEvent(bobElsewhere, 'notification.mark_read', (e) => e.cid === cid);
  const aliceSeesRead = waitForEvent(aliceCh, 'message.read', (e) => e.user?.id === 'bob');
  const bobSeesRead = waitForEvent(bobCh, 'message.read', (e) => e.user?.id === 'bob');
  const resp = await bobCh.markRead();
  assert.ok(resp, 'markRead() sent no request (client thinks read events are disabled)');
  assert.equal(resp.event?.type, 'message.read');
  assert.equal(resp.event?.user?.id, 'bob');

  const ev = await aliceSeesRead;
  assert.equal(ev.cid, cid);
  assert.equal(ev.channel_type, 'messaging');
  assert.equal(ev.user.id, 'bob');
  assert.equal(typeof ev.created_at, 'string');
  assert.equal(ev.last_read_message_id, sent[2].id);
  assert.equal(aliceCh.state.read.bob.unread_messages, 0);
  assert.equal(aliceCh.state.read.bob.last_read_message_id, sent[2].id);

  await bobSeesRead;
  const notice = await markReadNotice;
  assert.equal(notice.channel?.cid, cid, 'per-channel notification.mark_read must carry `channel`');
  assert.equal(notice.user?.id, 'bob');
  assert.equal(notice.total_unread_count, 0);
  assert.equal(notice.unread_channels, 0);
  assert.equal(bobCh.countUnread(), 0);
  const after = await bob.getUnreadCount();
  assert.equal(after.total_unread_count, 0);
  const entryAfter = after.channels.find((c) => c.channel_id === cid);
  assert.equal(entryAfter?.unread_count ?? 0, 0);

  const stateAfter = await bobCh.query({ messages: { limit: 10 } });
  assert.equal(stateAfter.read.find((r) => r.user.id === 'bob').unread_messages, 0);
});
