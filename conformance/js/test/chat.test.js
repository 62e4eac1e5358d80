// Scenarios 1, 2 and 9: two users chatting over WebSockets, typing
// indicators, editing and deleting messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, waitForEvent, uniqueId, clusterSettled } from '../harness.js';

const eddy = useEddy();

test('two users chat over WebSockets', async () => {
  // Server-side upsert with a custom field: legacy paths return it flattened.
  const upsert = await eddy.server.upsertUsers([
    { id: 'alice', name: 'Alice', favorite_color: 'blue' },
    { id: 'bob', name: 'Bob', favorite_color: 'green' },
  ]);
  assert.deepEqual(Object.keys(upsert.users).sort(), ['alice', 'bob']);
  assert.equal(upsert.users.alice.id, 'alice');
  assert.equal(upsert.users.alice.name, 'Alice');
  assert.equal(upsert.users.alice.favorite_color, 'blue');
  assert.equal(upsert.users.alice.role, 'user');
  assert.equal(upsert.users.alice.custom, undefined, 'custom data must be flattened, not nested');
  assert.equal(upsert.users.bob.favorite_color, 'green');

  // Both connect; connectUser resolves with the first health.check frame.
  const { client: alice, me: aliceMe, connection } = await eddy.connect({ id: 'alice', name: 'Alice' });
  assert.equal(connection.type, 'health.check');
  assert.equal(typeof connection.connection_id, 'string');
  assert.ok(connection.connection_id.length > 0, 'connection_id must be non-empty');
  assert.ok(aliceMe, 'first frame must carry `me`');
  assert.equal(aliceMe.id, 'alice');
  assert.equal(aliceMe.name, 'Alice');
  assert.equal(aliceMe.favorite_color, 'blue', 'connectUser merges user_details, keeps stored custom data');
  assert.equal(aliceMe.total_unread_count, 0);
  assert.equal(aliceMe.unread_channels, 0);
  assert.ok(Array.isArray(aliceMe.mutes), 'me.mutes must be an array');
  assert.ok(Array.isArray(aliceMe.channel_mutes), 'me.channel_mutes must be an array');
  assert.equal(aliceMe.unread_count, 0);
  assert.equal(aliceMe.unread_threads, 0);
  assert.ok(Array.isArray(aliceMe.devices), 'me.devices must be an array');
  assert.ok(Array.isArray(aliceMe.blocked_user_ids), 'me.blocked_user_ids must be an array');
  assert.equal(aliceMe.role, 'user');
  assert.equal(aliceMe.online, true);
  assert.equal(alice.user.id, 'alice');

  const { client: bob, me: bobMe } = await eddy.connect({ id: 'bob', name: 'Bob' });
  assert.equal(bobMe.id, 'bob');
  assert.equal(bobMe.total_unread_count, 0);
  assert.ok(Array.isArray(bobMe.mutes));
  assert.ok(Array.isArray(bobMe.channel_mutes));
  assert.notEqual(bob.wsConnection.connectionID, alice.wsConnection.connectionID);

  // Alice creates and watches a messaging channel with both as members.
  const channelId = uniqueId('chat');
  const aliceCh = alice.channel('messaging', channelId, { members: ['alice', 'bob'] });
  const created = await aliceCh.watch();
  assert.equal(created.channel.cid, `messaging:${channelId}`);
  assert.equal(created.channel.id, channelId);
  assert.equal(created.channel.type, 'messaging');
  assert.equal(created.channel.created_by.id, 'alice');
  assert.deepEqual(created.members.map((m) => m.user_id ?? m.user.id).sort(), ['alice', 'bob']);
  assert.deepEqual(created.messages, []);
  await clusterSettled();

  const bobCh = bob.channel('messaging', channelId);
  const bobStartsWatching = waitForEvent(aliceCh, 'user.watching.start', (e) => e.user?.id === 'bob');
  const watched = await bobCh.watch();
  assert.equal(watched.channel.cid, aliceCh.cid);
  assert.deepEqual(watched.members.map((m) => m.user.id).sort(), ['alice', 'bob']);
  const watching = await bobStartsWatching;
  assert.equal(watching.watcher_count, 2);
  assert.equal(aliceCh.state.watcher_count, 2);

  // Alice sends; both watchers get message.new.
  const bobGot = waitForEvent(bobCh, 'message.new', (e) => e.message?.text === 'hello bob');
  const aliceGot = waitForEvent(aliceCh, 'message.new', (e) => e.message?.text === 'hello bob');
  const sent = await aliceCh.sendMessage({ text: 'hello bob' });
  assert.equal(sent.message.text, 'hello bob');
  assert.equal(sent.message.user.id, 'alice');
  assert.equal(sent.message.cid, aliceCh.cid);
  assert.equal(sent.message.type, 'regular');
  assert.equal(typeof sent.message.id, 'string');

  const ev = await bobGot;
  assert.equal(ev.type, 'message.new');
  assert.equal(ev.cid, aliceCh.cid);
  assert.equal(ev.channel_type, 'messaging');
  assert.equal(ev.channel_id, channelId);
  assert.equal(ev.user.id, 'alice');
  assert.equal(ev.message.id, sent.message.id);
  assert.equal(ev.message.user.id, 'alice');
  assert.equal(ev.message.cid, aliceCh.cid);
  assert.equal(ev.message_id, sent.message.id);
  assert.equal(ev.watcher_count, 2);
  assert.equal(typeof ev.created_at, 'string');

  const own = await aliceGot;
  assert.equal(own.message.id, sent.message.id);
  assert.equal(own.user.id, 'alice');

  const inBobState = bobCh.state.messages.find((m) => m.id === sent.message.id);
  assert.ok(inBobState, "message must be in bob's channel.state.messages");
  assert.equal(inBobState.text, 'hello bob');
  assert.equal(inBobState.user.id, 'alice');

  // A fresh query returns it as the latest message.
  const again = await bobCh.query({ messages: { limit: 10 } });
  assert.deepEqual(
    again.messages.map((m) => m.text),
    ['hello bob'],
  );
});

test('typing indicators reach the other watcher', async () => {
  const { aCh: aliceCh, bCh: bobCh } = await eddy.watchedPair(uniqueId('typing'));
  assert.equal(aliceCh.getConfig()?.typing_events, true, 'messaging config must enable typing_events');

  const started = waitForEvent(bobCh, 'typing.start', (e) => e.user?.id === 'alice');
  await aliceCh.keystroke();
  const start = await started;
  assert.equal(start.cid, aliceCh.cid);
  assert.equal(start.user.id, 'alice');
  assert.ok(bobCh.state.typing.alice, "bob's channel state lists alice as typing");

  const stopped = waitForEvent(bobCh, 'typing.stop', (e) => e.user?.id === 'alice');
  await aliceCh.stopTyping();
  const stop = await stopped;
  assert.equal(stop.cid, aliceCh.cid);
  assert.equal(stop.user.id, 'alice');
  assert.equal(bobCh.state.typing.alice, undefined);

  // Explicit sendEvent works the same way and the REST response echoes the event.
  const viaSend = waitForEvent(bobCh, 'typing.start', (e) => e.user?.id === 'alice');
  const resp = await aliceCh.sendEvent({ type: 'typing.start' });
  assert.equal(resp.event.type, 'typing.start');
  assert.equal(resp.event.user.id, 'alice');
  await viaSend;

  // Typing inside a thread keeps parent_id.
  const { message: parent } = await aliceCh.sendMessage({ text: 'thread for typing' });
  const inThread = waitForEvent(bobCh, 'typing.start', (e) => e.parent_id === parent.id);
  await aliceCh.sendEvent({ type: 'typing.start', parent_id: parent.id });
  const threadTyping = await inThread;
  assert.equal(threadTyping.user.id, 'alice');
});

test('editing and deleting a message reach the other watcher', async () => {
  const { a: alice, aCh: aliceCh, bCh: bobCh } = await eddy.watchedPair(uniqueId('edit'));
  const delivered = waitForEvent(bobCh, 'message.new', (e) => e.message?.text === 'first draft');
  const { message } = await aliceCh.sendMessage({ text: 'first draft' });
  await delivered;

  const updated = waitForEvent(bobCh, 'message.updated', (e) => e.message?.id === message.id);
  const upd = await alice.updateMessage({ id: message.id, text: 'final text' });
  assert.equal(upd.message.id, message.id);
  assert.equal(upd.message.text, 'final text');
  const uev = await updated;
  assert.equal(uev.cid, aliceCh.cid);
  assert.equal(uev.message.text, 'final text');
  assert.equal(uev.message.user.id, 'alice');
  assert.equal(uev.message_id, message.id);
  assert.equal(uev.user?.id, 'alice', 'message.updated must name the editor in `user`');
  assert.equal(bobCh.state.messages.find((m) => m.id === message.id)?.text, 'final text');

  const deleted = waitForEvent(bobCh, 'message.deleted', (e) => e.message?.id === message.id);
  const del = await alice.deleteMessage(message.id);
  assert.equal(del.message.id, message.id);
  assert.equal(del.message.type, 'deleted');
  const dev = await deleted;
  assert.equal(dev.cid, aliceCh.cid);
  assert.equal(dev.message.type, 'deleted');
  assert.equal(typeof dev.message.deleted_at, 'string');
  assert.equal(dev.hard_delete, false);
  assert.equal(dev.message_id, message.id);
  assert.equal(bobCh.state.messages.find((m) => m.id === message.id)?.type, 'deleted');

  const fetched = await alice.getMessage(message.id);
  assert.equal(fetched.message.type, 'deleted');
});

test('every connection of a user that watches gets the events', async () => {
  const { aCh: aliceCh, id } = await eddy.watchedPair(uniqueId('tabs'));
  // Bob opens a second "tab": another client, another connection, also watching.
  const { client: bobTab2 } = await eddy.connect({ id: 'bob' });
  const tab2Ch = bobTab2.channel('messaging', id);
  await tab2Ch.watch();

  const onTab2 = waitForEvent(tab2Ch, 'message.new', (e) => e.message?.text === 'to both tabs');
  const { message } = await aliceCh.sendMessage({ text: 'to both tabs' });
  const ev = await onTab2;
  assert.equal(ev.message.id, message.id);
  // Two users watch (bob twice): watcher_count counts distinct users.
  assert.equal(ev.watcher_count, 2);
});
