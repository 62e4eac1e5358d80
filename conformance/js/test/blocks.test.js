// User blocks and blocklists through the JS SDK: blockUser/getBlockedUsers/unBlockUser and me.blocked_user_ids,
// a blocked user's messages kept off the blocker's socket and unread count, blocklist CRUD, and channel
// types whose blocklist refuses (code 73) or flags messages that use a listed word.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, waitForEvent, expectApiError, uniqueId } from '../harness.js';

const eddy = useEddy();

test('blockUser, getBlockedUsers and unBlockUser keep client.blockedUsers and me.blocked_user_ids', async () => {
  const blocker = uniqueId('blocker');
  const pest = uniqueId('pest');
  await eddy.server.upsertUsers([{ id: blocker }, { id: pest, name: 'Pest' }]);
  const { client, me } = await eddy.connect({ id: blocker });
  assert.deepEqual(me.blocked_user_ids, []);

  const blocked = await client.blockUser(pest);
  assert.equal(blocked.blocked_by_user_id, blocker);
  assert.equal(blocked.blocked_user_id, pest);
  assert.ok(Date.parse(blocked.created_at) > Date.now() - 60_000);
  assert.equal(blocked.blocked_at, blocked.created_at);
  assert.deepEqual(client.blockedUsers.getLatestValue().userIds, [pest]);

  const { blocks } = await client.getBlockedUsers();
  assert.equal(blocks.length, 1);
  assert.equal(blocks[0].user_id, blocker);
  assert.equal(blocks[0].user.id, blocker);
  assert.equal(blocks[0].blocked_user_id, pest);
  assert.equal(blocks[0].blocked_user.name, 'Pest');
  assert.equal(blocks[0].created_at, blocked.created_at);

  // A fresh connection learns the block from me.blocked_user_ids.
  await client.disconnectUser();
  const { client: again, me: meAgain } = await eddy.connect({ id: blocker });
  assert.deepEqual(meAgain.blocked_user_ids, [pest]);
  assert.deepEqual(again.blockedUsers.getLatestValue().userIds, [pest]);

  await again.unBlockUser(pest);
  assert.deepEqual(again.blockedUsers.getLatestValue().userIds, []);
  assert.deepEqual((await again.getBlockedUsers()).blocks, []);
  // The server-side form names the blocking user.
  await eddy.server.blockUser(pest, blocker);
  const listed = await eddy.server.getBlockedUsers(blocker);
  assert.deepEqual(listed.blocks.map((b) => b.blocked_user_id), [pest]);
});

test('blocking yourself or an unknown user is refused with code 4', async () => {
  const blocker = uniqueId('self');
  const { client } = await eddy.connect({ id: blocker });
  const self = await expectApiError(() => client.blockUser(blocker));
  assert.equal(self.code, 4);
  assert.equal(self.status, 400);
  const unknown = await expectApiError(() => client.blockUser(uniqueId('nobody')));
  assert.equal(unknown.code, 4);
  const serverWithoutUser = await expectApiError(() => eddy.server.blockUser(blocker));
  assert.equal(serverWithoutUser.code, 4);
  assert.deepEqual((await client.getBlockedUsers()).blocks, []);
});

test("a blocked user's messages do not reach the blocker's socket or unread count", async () => {
  const { a: alice, b: bob, aCh: aliceCh, bCh: bobCh } = await eddy.watchedPair(
    uniqueId('blockdm'),
    uniqueId('alice'),
    uniqueId('bob'),
  );
  await alice.blockUser(bob.userID);

  const seen = [];
  const sub = aliceCh.on('message.new', (event) => seen.push(event.message.id));
  // Bob still sees his own message: only the blocker is left out.
  const bobOwn = waitForEvent(bobCh, 'message.new', (e) => e.message.text === 'blocked words');
  const { message: hidden } = await bobCh.sendMessage({ text: 'blocked words' });
  await bobOwn;
  assert.equal((await alice.getUnreadCount()).total_unread_count, 0, 'not counted as unread');

  await alice.unBlockUser(bob.userID);
  const arrived = waitForEvent(aliceCh, 'message.new', (e) => e.message.text === 'heard again');
  const { message: heard } = await bobCh.sendMessage({ text: 'heard again' });
  await arrived;
  sub.unsubscribe();
  // Events reach a socket in publish order, so the hidden one would have come first.
  assert.deepEqual(seen, [heard.id], `only the message sent after unblocking arrived, not ${hidden.id}`);
  assert.equal((await alice.getUnreadCount()).total_unread_count, 1);
});

test('blocklist CRUD is server-side and keeps words lower-cased in order', async () => {
  const name = uniqueId('list');
  await eddy.server.createBlockList({ name, words: ['Delta', 'alpha', 'Charlie'] });
  const { blocklists } = await eddy.server.listBlockLists();
  const names = blocklists.map((b) => b.name);
  assert.ok(names.includes('profanity_en_2020_v1'), 'the built-in list is always there');
  assert.ok(names.includes(name));

  const { blocklist } = await eddy.server.getBlockList(name);
  assert.equal(blocklist.name, name);
  assert.equal(blocklist.type, 'word');
  assert.deepEqual(blocklist.words, ['delta', 'alpha', 'charlie']);
  assert.ok(blocklist.created_at && blocklist.updated_at);

  await eddy.server.updateBlockList(name, { words: ['echo'] });
  assert.deepEqual((await eddy.server.getBlockList(name)).blocklist.words, ['echo']);

  const { client: user } = await eddy.connect({ id: uniqueId('nosy') });
  const refused = await expectApiError(() => user.getBlockList(name));
  assert.equal(refused.code, 17);
  assert.equal(refused.status, 403);
  const tooLong = await expectApiError(() =>
    eddy.server.createBlockList({ name: uniqueId('long'), words: ['x'.repeat(41)] }),
  );
  assert.equal(tooLong.code, 4);

  await eddy.server.deleteBlockList(name);
  const gone = await expectApiError(() => eddy.server.getBlockList(name));
  assert.equal(gone.code, 16);
  assert.equal(gone.status, 404);
});

/** A fresh blocklist and a channel type screening with it; resolves to the type's name. */
async function screenedType(behavior, words) {
  const blocklist = uniqueId('screen');
  await eddy.server.createBlockList({ name: blocklist, words });
  const type = uniqueId('t').replace(/[^a-zA-Z0-9]/g, '');
  await eddy.server.createChannelType({ name: type, blocklist, blocklist_behavior: behavior });
  return { type, blocklist };
}

test('a channel type with a block blocklist refuses a user message with code 73', async () => {
  const { type } = await screenedType('block', ['kumquat']);
  const author = uniqueId('author');
  const { client } = await eddy.connect({ id: author });
  const channel = client.channel(type, uniqueId('screened'), { members: [author] });
  await channel.watch();

  const refused = await expectApiError(() => channel.sendMessage({ text: 'a KUMQUAT, really' }));
  assert.equal(refused.code, 73);
  assert.equal(refused.status, 400);

  const { message } = await channel.sendMessage({ text: 'kumquats are fine, they are not the word' });
  const edit = await expectApiError(() =>
    client.partialUpdateMessage(message.id, { set: { text: 'kumquat' } }),
  );
  assert.equal(edit.code, 73);
  const { messages } = await channel.query({ messages: { limit: 10 } });
  assert.deepEqual(
    messages.map((m) => m.text),
    ['kumquats are fine, they are not the word'],
    'the refused message was not stored and the edit was not applied',
  );
});

test('a channel type with a flag blocklist sends the message and records an automod flag', async () => {
  const { type, blocklist } = await screenedType('flag', ['quince']);
  const author = uniqueId('author');
  const { client } = await eddy.connect({ id: author });
  const channel = client.channel(type, uniqueId('flagged'), { members: [author] });
  await channel.watch();

  await channel.sendMessage({ text: 'nothing to see' });
  assert.deepEqual((await eddy.server.queryMessageFlags({ channel_cid: channel.cid })).flags, []);

  const { message } = await channel.sendMessage({ text: 'Quince jam' });
  assert.equal(message.text, 'Quince jam');
  const { flags } = await eddy.server.queryMessageFlags({ channel_cid: channel.cid });
  assert.deepEqual(flags.map((f) => f.message.id), [message.id]);
  assert.equal(flags[0].created_by_automod, true);
  assert.ok(flags[0].reason.includes(blocklist));
});
