// The v2 operations served in the second pass, with Stream's v2 Node SDK (@stream-io/node-sdk):
// GetChannel, QueryReactions, UnreadCountsBatch, RestoreUsers, SendUserCustomEvent (received on a
// stream-chat socket, on another node in the two-node configuration) and the built-in commands.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, uniqueId, waitForEvent } from '../harness.js';
import { v2Helpers, recent, apiError } from '../v2_helpers.js';

const eddy = useEddy();
const { sdk, user, channel, settled } = v2Helpers(eddy);

test('getChannel reads state without creating; queryReactions lists reactions', async () => {
  const [a, b] = [await user(), await user()];
  const { ch, state } = await channel([a, b], { topic: 'rust' });
  const sent = [];
  for (const text of ['one', 'two', 'three']) {
    sent.push((await ch.sendMessage({ message: { text, user_id: a, custom: { label: text } } })).message);
  }
  const got = await sdk().chat.getChannel({ type: 'messaging', id: ch.id, messages_limit: 2 });
  assert.equal(got.channel.cid, state.channel.cid);
  assert.deepEqual(got.channel.custom, { topic: 'rust' });
  assert.ok(recent(got.channel.created_at));
  assert.deepEqual(got.messages.map((m) => [m.id, m.custom]), [
    [sent[1].id, { label: 'two' }],
    [sent[2].id, { label: 'three' }],
  ]);
  assert.ok(recent(got.messages[0].created_at));
  const missing = await apiError(sdk().chat.getChannel({ type: 'messaging', id: uniqueId('none') }));
  assert.deepEqual([missing.code, missing.metadata.responseCode], [16, 404]);

  await sdk().chat.sendReaction({ id: sent[0].id, reaction: { type: 'like', user_id: b, custom: { stars: 5 } } });
  const { reactions } = await sdk().chat.queryReactions({ id: sent[0].id });
  assert.deepEqual(reactions.map((r) => [r.type, r.user_id, r.custom]), [['like', b, { stars: 5 }]]);
  assert.ok(recent(reactions[0].created_at));
  const filtered = await apiError(sdk().chat.queryReactions({ id: sent[0].id, filter: { type: 'like' } }));
  assert.deepEqual([filtered.code, filtered.metadata.responseCode], [4, 400]);
});

test('unreadCountsBatch counts each user; restoreUsers undoes a soft delete', async () => {
  const [a, b] = [await user(), await user({ team: 'blue' })];
  const { ch, state } = await channel([a, b]);
  await ch.sendMessage({ message: { text: 'hi', user_id: a } });
  const { counts_by_user: counts } = await sdk().chat.unreadCountsBatch({ user_ids: [a, b] });
  assert.deepEqual([counts[a].total_unread_count, counts[b].total_unread_count], [0, 1]);
  assert.deepEqual(counts[b].channels.map((c) => [c.channel_id, c.unread_count]), [[state.channel.cid, 1]]);
  assert.ok(counts[b].channels[0].last_read instanceof Date);

  const deleted = await settled((await sdk().deleteUsers({ user_ids: [b] })).task_id);
  assert.deepEqual(deleted.result, { [b]: { status: 'ok' } });
  const gone = await sdk().queryUsers({ payload: { filter_conditions: { id: b } } });
  assert.deepEqual(gone.users, []);
  await sdk().restoreUsers({ user_ids: [b] });
  const { users } = await sdk().queryUsers({ payload: { filter_conditions: { id: b } } });
  assert.deepEqual(users.map((u) => [u.id, u.custom, u.deleted_at]), [[b, { team: 'blue' }, undefined]]);
});

test('sendUserCustomEvent reaches the user\'s socket; commands are the built-ins', async () => {
  const id = await user();
  const { client } = await eddy.connect({ id });
  const marker = uniqueId('m');
  const got = waitForEvent(client, 'friendship.request', (e) => e.marker === marker);
  await sdk().chat.sendUserCustomEvent({ user_id: id, event: { type: 'friendship.request', custom: { marker } } });
  const event = await got;
  assert.equal(event.marker, marker);
  const reserved = await apiError(
    sdk().chat.sendUserCustomEvent({ user_id: id, event: { type: 'message.new' } }),
  );
  assert.equal(reserved.metadata.responseCode, 400);

  const { commands } = await sdk().chat.listCommands();
  const giphy = commands.find((c) => c.name === 'giphy');
  assert.deepEqual([giphy.args, giphy.set], ['[text]', 'fun_set']);
  const one = await sdk().chat.getCommand({ name: 'ban' });
  assert.deepEqual([one.name, one.set], ['ban', 'moderation_set']);
  const none = await apiError(sdk().chat.getCommand({ name: 'nope' }));
  assert.equal(none.code, 16);
});
