// Scenario 6: unread counts accumulated while offline show up on reconnect.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, waitForEvent, uniqueId } from '../harness.js';

const eddy = useEddy();

test('unread counts after reconnecting', async () => {
  const { a: alice, b: bob, aCh: aliceCh, cid } = await eddy.watchedPair(uniqueId('offline'));
  assert.equal(alice.userID, 'alice');
  await bob.disconnectUser();

  await aliceCh.sendMessage({ text: 'while you were away 1' });
  await aliceCh.sendMessage({ text: 'while you were away 2' });

  const { client: bobAgain, me } = await eddy.connect({ id: 'bob' });
  assert.equal(me.id, 'bob');
  assert.equal(me.total_unread_count, 2);
  assert.equal(me.unread_count, 2);
  assert.equal(me.unread_channels, 1);

  const unread = await bobAgain.getUnreadCount();
  assert.equal(unread.total_unread_count, 2);
  assert.deepEqual(
    unread.channels.map((c) => [c.channel_id, c.unread_count]),
    [[cid, 2]],
  );
  assert.equal(typeof unread.channels[0].last_read, 'string');
  const byType = unread.channel_type.find((t) => t.channel_type === 'messaging');
  assert.ok(byType, `channel_type[] must have a messaging entry, got ${JSON.stringify(unread.channel_type)}`);
  assert.equal(byType.unread_count, 2);
  assert.equal(byType.channel_count, 1);

  // Server-side variant (GET /unread?user_id=bob) agrees.
  const serverView = await eddy.server.getUnreadCount('bob');
  assert.equal(serverView.total_unread_count, 2);
  assert.deepEqual(
    serverView.channels.map((c) => [c.channel_id, c.unread_count]),
    [[cid, 2]],
  );

  // Watching the channel again initialises the SDK's unread count from read state.
  const bobCh = bobAgain.channel('messaging', aliceCh.id);
  await bobCh.watch();
  assert.equal(bobCh.countUnread(), 2);
});

test('after an abnormal disconnect the SDK reconnects and recovers channel state', async () => {
  const { a: carol, b: dave, aCh: carolCh, bCh: daveCh } = await eddy.watchedPair(
    uniqueId('recover'),
    'carol',
    'dave',
  );
  assert.equal(carol.userID, 'carol');
  const firstConnectionId = dave.wsConnection.connectionID;

  // Drop dave's socket with a non-1000 close code: the SDK treats it as a
  // network failure, opens a new connection and runs recoverState()
  // (queryChannels with cid $in + watch) before dispatching connection.recovered.
  const recovered = waitForEvent(dave, 'connection.recovered', () => true, 15_000);
  dave.wsConnection.ws.close(4000, 'conformance: simulated network drop');
  // Sent while dave is (probably) offline; recoverState must fetch it.
  const gap = (await carolCh.sendMessage({ text: 'sent during the gap' })).message;
  await recovered;
  assert.notEqual(dave.wsConnection.connectionID, firstConnectionId, 'a reconnect gets a new connection_id');
  assert.ok(
    daveCh.state.messages.some((m) => m.id === gap.id),
    'recoverState must bring in the message sent during the gap',
  );

  // The recovered connection watches the channel again.
  const live = waitForEvent(daveCh, 'message.new', (e) => e.message?.text === 'after recovery');
  await carolCh.sendMessage({ text: 'after recovery' });
  const ev = await live;
  assert.equal(ev.user.id, 'carol');
});
