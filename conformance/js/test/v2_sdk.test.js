// The v2 layout (/api/v2) with Stream's v2 Node SDK (@stream-io/node-sdk): users, channels, members,
// messages, reactions, threads, read state, moderation and tasks. The SDK decodes times from integer
// nanoseconds (numbers) into Dates and reads custom data under `custom`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StreamClient } from '@stream-io/node-sdk';
import { useEddy, uniqueId, apiError } from '../harness.js';

const eddy = useEddy();
let cached;
// The server-side v2 client, made once the harness has started eddy.
const sdk = () => {
  cached ??= new StreamClient(eddy.apiKey, eddy.apiSecret, { basePath: eddy.url, timeout: 10_000 });
  return cached;
};

const recent = (date) => date instanceof Date && Math.abs(Date.now() - date.getTime()) < 120_000;

async function user(custom = {}) {
  const id = uniqueId('v2u');
  await sdk().upsertUsers([{ id, name: 'Ann', custom }]);
  return id;
}

async function channel(ids, custom = {}) {
  const ch = sdk().chat.channel('messaging', uniqueId('v2c'));
  const state = await ch.getOrCreate({
    data: { created_by_id: ids[0], members: ids.map((user_id) => ({ user_id })), custom },
  });
  return { ch, state };
}

async function settled(taskId) {
  for (let i = 0; i < 100; i += 1) {
    const task = await sdk().getTask({ id: taskId });
    if (task.status !== 'pending') return task;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`task ${taskId} did not finish`);
}

test('users: custom data under custom, times as Dates, partial updates, queries', async () => {
  const id = await user({ team: 'blue', hat: 'top' });
  const { users } = await sdk().queryUsers({ payload: { filter_conditions: { id } } });
  assert.deepEqual(users.map((u) => [u.id, u.name, u.custom]), [[id, 'Ann', { team: 'blue', hat: 'top' }]]);
  assert.ok(recent(users[0].created_at), `created_at ${users[0].created_at}`);
  const updated = await sdk().updateUsersPartial({ users: [{ id, set: { team: 'red' }, unset: ['hat'] }] });
  assert.deepEqual(updated.users[id].custom, { team: 'red' });
});

test('channels and members: get-or-create, partial update, query, member update', async () => {
  const [a, b] = [await user(), await user()];
  const { ch, state } = await channel([a, b], { topic: 'rust' });
  assert.deepEqual(state.channel.custom, { topic: 'rust' });
  assert.ok(recent(state.channel.created_at));
  const partial = await ch.updateChannelPartial({ set: { topic: 'go' } });
  assert.equal(partial.channel.custom.topic, 'go');
  const { channels } = await sdk().chat.queryChannels({ filter_conditions: { cid: state.channel.cid }, user_id: a });
  assert.deepEqual(channels.map((c) => c.channel.custom.topic), ['go']);
  const member = await ch.updateMemberPartial({ user_id: b, set: { hat: 'cap' } });
  assert.deepEqual([member.channel_member.user_id, member.channel_member.custom], [b, { hat: 'cap' }]);
  const { members } = await sdk().chat.queryMembers({
    payload: { type: 'messaging', id: ch.id, filter_conditions: { id: b } },
  });
  assert.deepEqual(members.map((m) => m.custom), [{ hat: 'cap' }]);
});

test('messages, reactions, threads and read state', async () => {
  const [a, b] = [await user(), await user()];
  const { ch, state } = await channel([a, b]);
  const { message } = await ch.sendMessage({ message: { text: 'hi', user_id: a, custom: { color: 'red' } } });
  assert.deepEqual([message.text, message.custom], ['hi', { color: 'red' }]);
  assert.ok(recent(message.created_at));
  const reacted = await sdk().chat.sendReaction({ id: message.id, reaction: { type: 'like', user_id: b, custom: { stars: 5 } } });
  assert.deepEqual([reacted.reaction.user_id, reacted.reaction.custom], [b, { stars: 5 }]);
  assert.deepEqual(reacted.message.reaction_counts, { like: 1 });
  await ch.sendMessage({ message: { text: 'reply', user_id: b, parent_id: message.id } });
  const replies = await sdk().chat.getReplies({ parent_id: message.id });
  assert.deepEqual(replies.messages.map((m) => m.text), ['reply']);
  const { threads } = await sdk().chat.queryThreads({ user_id: a });
  assert.deepEqual(threads.map((t) => [t.parent_message_id, t.reply_count]), [[message.id, 1]]);
  const unread = await sdk().chat.unreadCounts({ user_id: b });
  assert.equal(unread.total_unread_count, 1);
  assert.deepEqual(unread.channels.map((c) => c.channel_id), [state.channel.cid]);
  const read = await ch.markRead({ user_id: b });
  assert.equal(read.event.type, 'message.read');
  assert.equal((await sdk().chat.unreadCounts({ user_id: b })).total_unread_count, 0);
});

test('moderation: ban, unban, mute, flag', async () => {
  const [a, b] = [await user(), await user()];
  const { ch } = await channel([a, b]);
  const reason = uniqueId('because');
  await sdk().moderation.ban({ target_user_id: b, banned_by_id: a, reason });
  const { bans } = await sdk().chat.queryBannedUsers({ payload: { filter_conditions: { reason } } });
  assert.deepEqual(bans.map((x) => [x.user.id, x.banned_by.id]), [[b, a]]);
  await sdk().moderation.unban({ target_user_id: b, unbanned_by_id: a });
  const after = await sdk().chat.queryBannedUsers({ payload: { filter_conditions: { reason } } });
  assert.deepEqual(after.bans, []);
  const muted = await sdk().moderation.mute({ target_ids: [b], user_id: a });
  assert.deepEqual(muted.mutes.map((m) => [m.user.id, m.target.id]), [[a, b]]);
  await sdk().moderation.unmute({ target_ids: [b], user_id: a });
  const { message } = await ch.sendMessage({ message: { text: 'bad', user_id: a } });
  const flagged = await sdk().moderation.flag({ entity_type: 'stream:chat:v1:message', entity_id: message.id, user_id: b });
  assert.equal(flagged.item_id, message.id);
});

test('tasks: users and channels deleted in the background', async () => {
  const [a, b] = [await user(), await user()];
  const { state } = await channel([a, b]);
  const channels = await sdk().chat.deleteChannels({ cids: [state.channel.cid], hard_delete: true });
  const channelTask = await settled(channels.task_id);
  assert.equal(channelTask.status, 'completed');
  assert.deepEqual(channelTask.result, { [state.channel.cid]: { status: 'ok' } });
  const users = await sdk().deleteUsers({ user_ids: [a, b] });
  const userTask = await settled(users.task_id);
  assert.deepEqual(userTask.result, { [a]: { status: 'ok' }, [b]: { status: 'ok' } });
  assert.ok(recent(userTask.created_at));
  const { users: left } = await sdk().queryUsers({ payload: { filter_conditions: { id: { $in: [a, b] } } } });
  assert.deepEqual(left, []);
});

test('operations eddy lacks answer code 4, unknown tasks 16', async () => {
  const poll = await apiError(sdk().createPoll({ name: 'lunch?', user_id: await user() }));
  assert.equal(poll.code, 4);
  assert.equal(poll.metadata.responseCode, 400);
  assert.match(poll.message, /not supported/);
  const task = await apiError(sdk().getTask({ id: '00000000-0000-0000-0000-000000000000' }));
  assert.equal(task.code, 16);
});
