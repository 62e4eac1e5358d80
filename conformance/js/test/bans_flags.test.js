// Bans, shadow bans and flags through the JS SDK: refusals while banned, user.banned/user.unbanned
// over WebSocket and the channel state they update, shadowed messages, QueryBannedUsers and flags.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, waitForEvent, expectApiError, uniqueId } from '../harness.js';

const eddy = useEddy();

/** Resolves after `ms` with the events of `type` `target` received meanwhile. */
function collect(target, type, ms) {
  const got = [];
  const sub = target.on(type, (ev) => got.push(ev));
  return new Promise((resolve) =>
    setTimeout(() => {
      sub.unsubscribe();
      resolve(got);
    }, ms),
  );
}

test('an app-wide ban refuses sendMessage with code 17 until unbanUser', async () => {
  const admin = uniqueId('admin');
  const { b: bob, bCh: bobCh } = await eddy.watchedPair(
    uniqueId('appban'),
    uniqueId('alice'),
    uniqueId('bob'),
  );
  await eddy.server.upsertUsers([{ id: admin, role: 'admin' }]);

  const told = waitForEvent(bob, 'user.banned', (e) => e.user?.id === bob.userID);
  await eddy.server.banUser(bob.userID, { banned_by_id: admin, reason: 'spam', timeout: 30 });
  const event = await told;
  assert.equal(event.cid, undefined, 'an app-wide ban names no channel');
  assert.equal(event.created_by.id, admin);
  assert.equal(event.reason, 'spam');
  assert.equal(event.shadow, false);
  assert.ok(Date.parse(event.expiration) > Date.now());

  const refused = await expectApiError(() => bobCh.sendMessage({ text: 'let me speak' }));
  assert.equal(refused.status, 403);
  assert.equal(refused.code, 17);

  const { users } = await eddy.server.queryUsers({ id: bob.userID });
  assert.equal(users[0].banned, true);

  const lifted = waitForEvent(bob, 'user.unbanned', (e) => e.user?.id === bob.userID);
  await eddy.server.unbanUser(bob.userID);
  await lifted;
  const { message } = await bobCh.sendMessage({ text: 'thanks' });
  assert.equal(message.text, 'thanks');
});

test('a channel ban reaches watchers as user.banned and updates the member in channel state', async () => {
  const { a: alice, b: bob, aCh: aliceCh, bCh: bobCh, id } = await eddy.watchedPair(
    uniqueId('chanban'),
    uniqueId('alice'),
    uniqueId('bob'),
  );
  const serverCh = eddy.server.channel('messaging', id);

  const seen = waitForEvent(aliceCh, 'user.banned', (e) => e.user?.id === bob.userID);
  await serverCh.banUser(bob.userID, { banned_by_id: alice.userID, reason: 'off-topic' });
  const event = await seen;
  assert.equal(event.cid, aliceCh.cid);
  assert.equal(event.channel_type, 'messaging');
  assert.equal(event.channel_id, id);
  assert.equal(event.created_by.id, alice.userID);
  assert.equal(event.reason, 'off-topic');
  assert.equal(event.shadow, false);
  assert.equal(aliceCh.state.members[bob.userID].banned, true);

  const refused = await expectApiError(() => bobCh.sendMessage({ text: 'hello?' }));
  assert.equal(refused.code, 17);
  assert.equal(refused.status, 403);

  const { members } = await aliceCh.queryMembers({ id: bob.userID });
  assert.equal(members[0].banned, true);

  const unbanned = waitForEvent(aliceCh, 'user.unbanned', (e) => e.user?.id === bob.userID);
  await serverCh.unbanUser(bob.userID);
  await unbanned;
  assert.equal(aliceCh.state.members[bob.userID].banned, false);
  await bobCh.sendMessage({ text: 'back again' });
});

test('a moderator bans in a channel with user auth; a plain member may not', async () => {
  const mod = uniqueId('mod');
  const plain = uniqueId('plain');
  const target = uniqueId('target');
  await eddy.server.upsertUsers([{ id: mod, role: 'moderator' }, { id: plain }, { id: target }]);
  const id = uniqueId('modban');
  await eddy.server
    .channel('messaging', id, { members: [mod, plain, target], created_by_id: mod })
    .create();

  const { client: plainClient } = await eddy.connect({ id: plain });
  const plainCh = plainClient.channel('messaging', id);
  await plainCh.watch();
  const refused = await expectApiError(() => plainCh.banUser(target, {}));
  assert.equal(refused.code, 17);
  const appWide = await expectApiError(() => plainClient.banUser(target));
  assert.equal(appWide.code, 17);
  const query = await expectApiError(() => plainClient.queryBannedUsers({}));
  assert.equal(query.code, 17);

  const { client: modClient } = await eddy.connect({ id: mod });
  const modCh = modClient.channel('messaging', id);
  await modCh.watch();
  await modCh.banUser(target, { timeout: 10 });
  const { bans } = await modClient.queryBannedUsers({ channel_cid: modCh.cid });
  assert.equal(bans.length, 1);
  assert.equal(bans[0].user.id, target);
  assert.equal(bans[0].banned_by.id, mod);
  assert.equal(bans[0].channel.cid, modCh.cid);
  assert.ok(Date.parse(bans[0].expires) > Date.now());

  const self = await expectApiError(() => modClient.banUser(mod));
  assert.equal(self.code, 4);
});

test("a shadow-banned user's messages reach no one else but look normal to the author", async () => {
  const { a: alice, b: bob, aCh: aliceCh, bCh: bobCh } = await eddy.watchedPair(
    uniqueId('shadow'),
    uniqueId('alice'),
    uniqueId('bob'),
  );
  await eddy.server.shadowBan(bob.userID, { user_id: alice.userID });

  const aliceGot = collect(aliceCh, 'message.new', 1500);
  const bobGot = waitForEvent(bobCh, 'message.new', (e) => e.message?.text === 'can you hear me');
  const { message } = await bobCh.sendMessage({ text: 'can you hear me' });
  assert.equal(message.shadowed, false, 'the author is not told');
  const own = await bobGot;
  assert.equal(own.message.shadowed, false);
  assert.ok(bobCh.state.messages.some((m) => m.id === message.id), "in the author's own state");
  assert.deepEqual(
    (await aliceGot).map((e) => e.message.id),
    [],
    'the other watcher receives nothing',
  );

  const fromServer = await eddy.server.getMessage(message.id);
  assert.equal(fromServer.message.shadowed, true);
  const reloaded = await aliceCh.query({ messages: { limit: 25 } });
  assert.ok(!reloaded.messages.some((m) => m.id === message.id), 'not in channel state for others');
  const search = await alice.search({ cid: aliceCh.cid }, 'hear');
  assert.deepEqual(search.results, [], 'not found by others');

  await eddy.server.removeShadowBan(bob.userID);
  const heard = waitForEvent(aliceCh, 'message.new', (e) => e.message?.text === 'and now?');
  await bobCh.sendMessage({ text: 'and now?' });
  assert.equal((await heard).message.shadowed, false);
});

test('queryBannedUsers finds bans by filter and refuses unknown fields with code 4', async () => {
  const target = uniqueId('banned');
  const admin = uniqueId('admin');
  await eddy.server.upsertUsers([{ id: target, name: 'Banned' }, { id: admin, role: 'admin' }]);
  await eddy.server.banUser(target, { user_id: admin, reason: 'because' });
  const { bans } = await eddy.server.queryBannedUsers(
    { user_id: target },
    [{ created_at: -1 }],
    { limit: 10 },
  );
  assert.equal(bans.length, 1);
  assert.equal(bans[0].user.name, 'Banned');
  assert.equal(bans[0].user.banned, true);
  assert.equal(bans[0].banned_by.id, admin);
  assert.equal(bans[0].reason, 'because');
  assert.equal(bans[0].channel, undefined);

  const bad = await expectApiError(() => eddy.server.queryBannedUsers({ nonsense: true }));
  assert.equal(bad.status, 400);
  assert.equal(bad.code, 4);
  assert.match(bad.body.message, /nonsense/);
});

test('flagMessage, flagUser, queryMessageFlags and unflagMessage', async () => {
  const { a: alice, b: bob, bCh: bobCh } = await eddy.watchedPair(
    uniqueId('flags'),
    uniqueId('alice'),
    uniqueId('bob'),
  );
  const { message } = await bobCh.sendMessage({ text: 'flag-worthy' });

  const flagged = await alice.flagMessage(message.id, { reason: 'rude' });
  assert.equal(flagged.flag.target_message_id, message.id);
  assert.equal(flagged.flag.user.id, alice.userID);
  assert.equal(flagged.flag.created_by_automod, false);
  assert.equal(flagged.flag.reason, 'rude');

  const twice = await expectApiError(() => alice.flagMessage(message.id));
  assert.equal(twice.code, 4);

  const { flags } = await eddy.server.queryMessageFlags({ channel_cid: bobCh.cid });
  assert.equal(flags.length, 1);
  assert.equal(flags[0].message.id, message.id);
  assert.equal(flags[0].user.id, alice.userID);
  const byAuthor = await eddy.server.queryMessageFlags({ user_id: { $in: [bob.userID] } });
  assert.equal(byAuthor.flags.length, 1);
  const notAllowed = await expectApiError(() => alice.queryMessageFlags({}));
  assert.equal(notAllowed.code, 17);

  const userFlag = await alice.flagUser(bob.userID);
  assert.equal(userFlag.flag.target_user.id, bob.userID);
  assert.equal(userFlag.flag.user.id, alice.userID);

  await alice.unflagMessage(message.id);
  const after = await eddy.server.queryMessageFlags({ channel_cid: bobCh.cid });
  assert.deepEqual(after.flags, []);
  await alice.unflagUser(bob.userID);
});
