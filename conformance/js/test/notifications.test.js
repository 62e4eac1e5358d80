// Scenario 7: notification events for members who are not watching.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, waitForEvent, uniqueId } from '../harness.js';

const eddy = useEddy();

test('notification.message_new reaches a member who is not watching', async () => {
  // Bob is connected but never watches (nor queries) the channel.
  const { client: bob } = await eddy.connect({ id: 'bob' });
  const { client: alice } = await eddy.connect({ id: 'alice' });
  const channelId = uniqueId('notify');
  const aliceCh = alice.channel('messaging', channelId, { members: ['alice', 'bob'] });
  await aliceCh.watch();

  const notified = waitForEvent(bob, 'notification.message_new', (e) => e.message?.text === 'ping bob');
  const { message } = await aliceCh.sendMessage({ text: 'ping bob' });
  const ev = await notified;
  assert.equal(ev.cid, aliceCh.cid);
  assert.equal(ev.channel?.cid, aliceCh.cid);
  assert.equal(ev.channel?.id, channelId);
  assert.equal(ev.channel?.type, 'messaging');
  assert.equal(typeof ev.channel?.config, 'object', 'notification.message_new must carry channel.config');
  assert.equal(ev.channel.config.typing_events, true);
  assert.equal(ev.message.id, message.id);
  assert.equal(ev.message.user.id, 'alice');
  assert.equal(ev.total_unread_count, 1);
  assert.equal(ev.unread_channels, 1);
});

test('notification.added_to_channel reaches a user added while connected', async () => {
  await eddy.server.upsertUsers([{ id: 'alice' }, { id: 'bob' }]);
  const { client: carol } = await eddy.connect({ id: 'carol', name: 'Carol' });
  const { client: alice } = await eddy.connect({ id: 'alice' });
  const channelId = uniqueId('add');
  const aliceCh = alice.channel('messaging', channelId, { members: ['alice', 'bob'] });
  await aliceCh.watch();

  const added = waitForEvent(carol, 'notification.added_to_channel', (e) => e.channel?.cid === aliceCh.cid);
  const memberAdded = waitForEvent(
    aliceCh,
    'member.added',
    (e) => (e.member?.user_id ?? e.member?.user?.id) === 'carol',
  );
  const res = await aliceCh.addMembers(['carol']);
  assert.deepEqual(res.members.map((m) => m.user_id ?? m.user.id).sort(), ['alice', 'bob', 'carol']);

  const ev = await added;
  assert.equal(ev.channel.cid, aliceCh.cid);
  assert.equal(ev.channel.type, 'messaging');
  assert.equal(ev.member?.user_id ?? ev.member?.user?.id, 'carol');

  const mev = await memberAdded;
  assert.equal(mev.cid, aliceCh.cid);
  assert.equal(mev.member.user.id, 'carol');
  assert.ok(aliceCh.state.members.carol, "alice's channel state must now list carol");

  // Carol can now read the channel.
  const carolCh = carol.channel('messaging', channelId);
  const state = await carolCh.watch();
  assert.deepEqual(state.members.map((m) => m.user.id).sort(), ['alice', 'bob', 'carol']);
  assert.equal(state.membership?.user?.id ?? state.membership?.user_id, 'carol');
});

test('after stopWatching a member gets notification.message_new instead of message.new', async () => {
  const { b: bob, aCh: aliceCh, bCh: bobCh } = await eddy.watchedPair(uniqueId('stopwatch'));

  const stopped = waitForEvent(aliceCh, 'user.watching.stop', (e) => e.user?.id === 'bob');
  await bobCh.stopWatching();
  const stop = await stopped;
  assert.equal(stop.cid, aliceCh.cid);
  assert.equal(stop.watcher_count, 1);

  const seenByBob = [];
  const sub = bob.on('message.new', (e) => seenByBob.push(e.message?.id));
  const notified = waitForEvent(bob, 'notification.message_new', (e) => e.message?.text === 'you left');
  const { message } = await aliceCh.sendMessage({ text: 'you left' });
  const ev = await notified;
  sub.unsubscribe();
  assert.equal(ev.message.id, message.id);
  assert.equal(ev.channel.cid, aliceCh.cid);
  assert.equal(ev.watcher_count, 1);
  assert.ok(
    !seenByBob.includes(message.id),
    'a connection that stopped watching must not receive message.new for the channel',
  );
});
