// Delivery receipts: POST /channels/delivered (client.markChannelsDelivered) on a channel type with
// delivery_events on; the sender's watching client gets message.delivered and the read state keeps
// last_delivered_at / last_delivered_message_id. Types with delivery_events off take no part.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, waitForEvent, expectApiError, uniqueId } from '../harness.js';

const eddy = useEddy();

test('a delivery report reaches the sender and the read state', async () => {
  const type = uniqueId('deliv').replace(/-/g, '_').slice(0, 30);
  await eddy.server.createChannelType({ name: type, delivery_events: true });
  const [{ client: alice }, { client: bob }] = await Promise.all([
    eddy.connect({ id: 'alice' }),
    eddy.connect({ id: 'bob' }),
  ]);
  const id = uniqueId('room');
  const aliceCh = alice.channel(type, id, { members: ['alice', 'bob'] });
  await aliceCh.watch();
  const bobCh = bob.channel(type, id);
  await bobCh.watch();
  assert.ok(
    bobCh.data.own_capabilities.includes('delivery-events'),
    `own_capabilities must include delivery-events, got ${JSON.stringify(bobCh.data.own_capabilities)}`,
  );

  const arrived = waitForEvent(bobCh, 'message.new', (e) => e.user?.id === 'alice');
  const { message } = await aliceCh.sendMessage({ text: 'did you get this?' });
  await arrived;
  const delivered = waitForEvent(
    aliceCh,
    'message.delivered',
    (e) => e.user?.id === 'bob' && e.last_delivered_message_id === message.id,
  );
  await bob.markChannelsDelivered({ latest_delivered_messages: [{ cid: bobCh.cid, id: message.id }] });
  const event = await delivered;
  assert.equal(event.cid, aliceCh.cid);
  assert.equal(event.channel_type, type);
  assert.equal(event.last_delivered_at, message.created_at);
  assert.equal(typeof event.created_at, 'string');
  assert.equal(aliceCh.state.read.bob.last_delivered_message_id, message.id);

  const state = await eddy.server.channel(type, id).query({ state: true });
  const bobRead = state.read.find((r) => r.user.id === 'bob');
  assert.equal(bobRead.last_delivered_message_id, message.id);
  assert.equal(bobRead.last_delivered_at, message.created_at);
  // The delivery fields are read state, not member data.
  const bobMember = state.members.find((m) => m.user_id === 'bob');
  assert.equal(bobMember.last_delivered_message_id, undefined);

  // Unknown message ids are accepted (Stream's own SDK tests send made-up ones).
  await bob.markChannelsDelivered({ latest_delivered_messages: [{ cid: bobCh.cid, id: 'no-such-message' }] });
});

test('types without delivery_events take no part', async () => {
  const [{ client: alice }, { client: bob }] = await Promise.all([
    eddy.connect({ id: 'alice' }),
    eddy.connect({ id: 'bob' }),
  ]);
  const id = uniqueId('plain');
  const aliceCh = alice.channel('messaging', id, { members: ['alice', 'bob'] });
  await aliceCh.watch();
  const bobCh = bob.channel('messaging', id);
  await bobCh.watch();
  assert.ok(!bobCh.data.own_capabilities.includes('delivery-events'));
  const { message } = await aliceCh.sendMessage({ text: 'plain' });
  let heard = false;
  aliceCh.on('message.delivered', () => {
    heard = true;
  });
  await bob.markChannelsDelivered({ latest_delivered_messages: [{ cid: bobCh.cid, id: message.id }] });
  // A later event on the same socket proves the delivery event would have arrived by now.
  const later = waitForEvent(aliceCh, 'message.new', (e) => e.message?.text === 'after');
  await bobCh.sendMessage({ text: 'after' });
  await later;
  assert.equal(heard, false);
  const state = await eddy.server.channel('messaging', id).query({ state: true });
  assert.equal(state.read.find((r) => r.user.id === 'bob').last_delivered_message_id, undefined);
});

test('malformed delivery reports are refused with code 4', async () => {
  const { client: bob } = await eddy.connect({ id: 'bob' });
  const refused = await expectApiError(() =>
    bob.markChannelsDelivered({ latest_delivered_messages: [{ cid: 'no-colon', id: 'x' }] }),
  );
  assert.equal(refused.status, 400);
  assert.equal(refused.body.code, 4);
});
