// Query language conformance: queryChannels, queryUsers, queryMembers and search from connected JS clients, exact result sets and orders.
//
// One data set per run (ids carry a random tag, every query is narrowed to it with a custom `qtag`):
// users ann, ben (the two that ever connect), cat, dan and eve (banned where the build serves bans);
// channels ch1..ch4 made by ann's client, plus an invite channel; messages with attachments, a
// mention, custom fields and a thread. Built once by the first test that needs it; each test
// reconnects the clients it uses (the harness disconnects every client after each test).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { useEddy, expectApiError, clusterSettled } from '../harness.js';

const eddy = useEddy();
const TAG = randomBytes(6).toString('hex');
const U = Object.fromEntries(['ann', 'ben', 'cat', 'dan', 'eve'].map((k) => [k, `qj${TAG}-${k}`]));
const NAME = {
  ann: 'Ann Archer',
  ben: 'Ben Baker',
  cat: 'Cat Carver',
  dan: 'Dan Driver',
  eve: 'Eve Evans',
};
const W = { created: {}, channel: {}, msg: {} };
let building;

const world = () => (building ??= build());

async function build() {
  const server = eddy.server;
  // One by one, so created_at is distinct and ordered.
  const specs = {
    ann: { role: 'admin', teams: ['north', 'south'], rank: 3, city: 'Oslo' },
    ben: { teams: ['south'], rank: 9, city: 'Rome' },
    cat: { teams: ['east'], rank: 5, city: 'Oslo' },
    dan: { rank: 1 },
    eve: { rank: 7, city: 'Lima' },
  };
  W.user = {};
  for (const [k, fields] of Object.entries(specs)) {
    const resp = await server.upsertUser({ id: U[k], name: NAME[k], qtag: TAG, ...fields });
    W.user[k] = resp.users[U[k]];
  }
  // eve is banned app-wide, where this build serves bans (code 16: the endpoint is not served).
  try {
    await server.banUser(U.eve, { banned_by_id: U.ann });
    W.banned = true;
  } catch (err) {
    if (err.code !== 16) throw err;
    W.banned = false;
  }

  const { client: ann } = await eddy.connect({ id: U.ann });
  const { client: ben } = await eddy.connect({ id: U.ben });

  const plan = {
    ch1: [['ann', 'ben', 'cat'], { name: 'Alpha Base', topic: 'ops', weight: 10, spec: { zone: 'north' }, tags: ['a', 'b'] }],
    ch2: [['ann', 'ben'], { name: 'beta lounge', topic: 'fun', weight: 5, spec: { zone: 'south' }, tags: ['b'] }],
    ch3: [['ann', 'cat', 'dan'], { name: 'Gamma Deck', topic: 'ops', weight: 7 }],
    ch4: [['ann', 'dan'], { name: 'Delta Dock' }],
  };
  for (const [k, [members, data]] of Object.entries(plan)) {
    const ch = ann.channel('messaging', `qj${TAG}-${k}`, {
      members: members.map((m) => U[m]),
      qtag: TAG,
      ...data,
    });
    const resp = await ch.create();
    W.channel[k] = ch;
    W.created[k] = resp.channel.created_at;
  }

  // Messages: ch1 (ben), then ch2 (ann, mentioning ben), then ch3 (cat, with a thread reply by dan).
  const annCh = (k) => ann.channel('messaging', W.channel[k].id);
  const benCh = (k) => ben.channel('messaging', W.channel[k].id);
  const serverCh = (k) => server.channel('messaging', W.channel[k].id);
  const send = async (key, ch, message) => {
    W.msg[key] = (await ch.sendMessage(message)).message;
  };
  await send('m1', benCh('ch1'), { text: 'hello alpha team, deploy at noon', kind: 'note', score: 2 });
  await send('m2', annCh('ch2'), {
    text: `party tonight in the lounge @${U.ben}`,
    mentioned_users: [U.ben],
    kind: 'invite',
    score: 8,
  });
  await send('m3', serverCh('ch3'), {
    text: 'gamma deploy report ready',
    user_id: U.cat,
    kind: 'report',
    score: 5,
    attachments: [{ type: 'file', title: 'report.pdf', asset_url: 'https://example.com/report.pdf' }],
  });
  await send('m4', serverCh('ch3'), {
    text: 'Deploy photos attached',
    user_id: U.dan,
    parent_id: W.msg.m3.id,
    kind: 'report',
    score: 1,
    attachments: [{ type: 'image', image_url: 'https://example.com/deck.png' }],
  });
  W.mkey = Object.fromEntries(Object.entries(W.msg).map(([k, m]) => [m.id, k]));

  // ann pins ch2 and mutes ch3, through the SDK's own calls.
  await annCh('ch2').pin();
  await annCh('ch3').mute();

  // The invite channel (own qtag): ann, then ben and cat invited, ben accepts.
  const inv = ann.channel('messaging', `qj${TAG}-inv`, { members: [U.ann], qtag: `${TAG}-inv`, name: 'Invite Yard' });
  await inv.create();
  await inv.addMembers([U.dan]);
  await inv.inviteMembers([U.ben]);
  await inv.inviteMembers([U.cat]);
  await ben.channel('messaging', inv.id).acceptInvite();
  await server.channel('messaging', inv.id).addModerators([U.dan]); // server-side only
  W.inv = inv;

  W.cidKey = Object.fromEntries(Object.entries(W.channel).map(([k, ch]) => [ch.cid, k]));
  W.cidKey[inv.cid] = 'inv';
  const state = await server.queryChannelsRequest({ qtag: TAG }, { created_at: 1 }, {});
  W.state = Object.fromEntries(state.map((c) => [W.cidKey[c.channel.cid], c.channel]));
}

const userKey = (id) => Object.keys(U).find((k) => U[k] === id) ?? id;

/** Channel keys a client's queryChannelsRequest (the raw response) returns, in order. */
async function chans(client, filter, sort = [{ created_at: 1 }], options = {}) {
  const found = await client.queryChannelsRequest({ qtag: TAG, ...filter }, sort, { message_limit: 0, ...options });
  return found.map((c) => W.cidKey[c.channel.cid] ?? c.channel.cid);
}

async function users(client, filter, sort = [{ id: 1 }], options = {}) {
  const { users: found } = await client.queryUsers({ qtag: TAG, ...filter }, sort, options);
  return found.map((u) => userKey(u.id));
}

async function found(client, filter, query, options = {}) {
  const { results } = await client.search(filter, query, options);
  return results.map((r) => W.mkey[r.message.id] ?? r.message.id);
}

function assertRefusal(err, ...names) {
  assert.equal(err.status, 400, JSON.stringify(err.body));
  assert.equal(err.code, 4, JSON.stringify(err.body));
  assert.equal(err.body.code, 4);
  for (const name of names) {
    assert.ok(err.body.message.includes(name), `message ${JSON.stringify(err.body.message)} names ${name}`);
  }
}

// ---------------------------------------------------------------------------
// queryChannels
// ---------------------------------------------------------------------------

test('queryChannels: members, type/id/cid and logical groups, as a user', async () => {
  await world();
  const { client: ann } = await eddy.connect({ id: U.ann });
  assert.deepEqual(await chans(ann, {}), ['ch1', 'ch2', 'ch3', 'ch4']);
  assert.deepEqual(await chans(ann, { members: { $in: [U.dan] } }), ['ch3', 'ch4']);
  assert.deepEqual(await chans(ann, { members: { $in: [U.ben, U.dan] } }), ['ch1', 'ch2', 'ch3', 'ch4']);
  assert.deepEqual(await chans(ann, { members: { $eq: [U.ben, U.ann] } }), ['ch2']);
  assert.deepEqual(await chans(ann, { members: { $eq: [U.ann, U.cat, U.dan] } }), ['ch3']);
  assert.deepEqual(await chans(ann, { type: { $in: ['messaging', 'livestream'] } }), ['ch1', 'ch2', 'ch3', 'ch4']);
  assert.deepEqual(await chans(ann, { id: { $in: [W.channel.ch4.id, W.channel.ch2.id] } }), ['ch2', 'ch4']);
  assert.deepEqual(await chans(ann, { cid: { $in: [W.channel.ch3.cid] } }), ['ch3']);
  assert.deepEqual(await chans(ann, { $or: [{ topic: 'fun' }, { weight: { $gte: 10 } }] }), ['ch1', 'ch2']);
  assert.deepEqual(await chans(ann, { $and: [{ topic: 'ops' }, { members: { $in: [U.dan] } }] }), ['ch3']);
  assert.deepEqual(await chans(ann, { $nor: [{ topic: 'ops' }, { name: 'Delta Dock' }] }), ['ch2']);
  assert.deepEqual(
    await chans(ann, { $or: [{ $and: [{ topic: 'ops' }, { weight: { $lt: 10 } }] }, { $nor: [{ topic: { $exists: true } }] }] }),
    ['ch3', 'ch4'],
  );
  // ben is not a member of ch3 or ch4: a user only ever sees their own channels.
  const { client: ben } = await eddy.connect({ id: U.ben });
  assert.deepEqual(await chans(ben, {}), ['ch1', 'ch2']);
  assert.deepEqual(await chans(ben, { members: { $in: [U.dan] } }), []);
});

test('queryChannels: time ranges, member_count and custom fields', async () => {
  await world();
  const { client: ann } = await eddy.connect({ id: U.ann });
  const st = W.state;
  assert.deepEqual(await chans(ann, { created_at: { $gt: st.ch1.created_at, $lte: st.ch3.created_at } }), ['ch2', 'ch3']);
  assert.deepEqual(await chans(ann, { created_at: { $gte: st.ch4.created_at } }), ['ch4']);
  assert.ok(st.ch1.last_message_at < st.ch2.last_message_at && st.ch2.last_message_at < st.ch3.last_message_at);
  assert.deepEqual(await chans(ann, { last_message_at: { $gt: st.ch1.last_message_at } }), ['ch2', 'ch3']);
  assert.deepEqual(await chans(ann, { last_message_at: { $lte: st.ch2.last_message_at } }), ['ch1', 'ch2']);
  assert.deepEqual(await chans(ann, { last_message_at: { $exists: false } }), ['ch4']);
  assert.deepEqual(await chans(ann, { last_updated: { $gt: st.ch4.created_at } }, [{ last_updated: -1 }]), ['ch3', 'ch2', 'ch1']);
  assert.deepEqual(await chans(ann, { member_count: { $gt: 2 } }), ['ch1', 'ch3']);
  assert.deepEqual(await chans(ann, { member_count: { $lte: 2 } }), ['ch2', 'ch4']);
  assert.deepEqual(await chans(ann, { member_count: 2, name: { $autocomplete: 'del' } }), ['ch4']);
  assert.deepEqual(await chans(ann, { topic: 'ops' }), ['ch1', 'ch3']);
  assert.deepEqual(await chans(ann, { topic: { $in: ['fun', 'none'] } }), ['ch2']);
  assert.deepEqual(await chans(ann, { weight: { $gt: 5 } }), ['ch1', 'ch3']);
  assert.deepEqual(await chans(ann, { weight: { $gte: 5, $lt: 10 } }), ['ch2', 'ch3']);
  assert.deepEqual(await chans(ann, { 'spec.zone': 'south' }), ['ch2']);
  assert.deepEqual(await chans(ann, { 'spec.zone': { $exists: true } }), ['ch1', 'ch2']);
  assert.deepEqual(await chans(ann, { weight: { $exists: false } }), ['ch4']);
  assert.deepEqual(await chans(ann, { tags: { $contains: 'b' } }), ['ch1', 'ch2']);
  assert.deepEqual(await chans(ann, { tags: { $contains: 'a' } }), ['ch1']);
});

test('queryChannels: name, member.user.name, frozen and distinct', async () => {
  await world();
  const { client: ann } = await eddy.connect({ id: U.ann });
  assert.deepEqual(await chans(ann, { name: { $autocomplete: 'al' } }), ['ch1']);
  assert.deepEqual(await chans(ann, { name: { $autocomplete: 'LOU' } }), ['ch2']);
  assert.deepEqual(await chans(ann, { name: { $autocomplete: 'd' } }), ['ch3', 'ch4']);
  assert.deepEqual(await chans(ann, { name: { $q: 'gamma deck' } }), ['ch3']);
  assert.deepEqual(await chans(ann, { name: { $q: 'gamma base' } }), []);
  assert.deepEqual(await chans(ann, { 'member.user.name': { $autocomplete: 'carv' } }), ['ch1', 'ch3']);
  assert.deepEqual(await chans(ann, { 'member.user.name': { $autocomplete: 'dan' } }), ['ch3', 'ch4']);
  assert.deepEqual(await chans(ann, { frozen: false }), ['ch1', 'ch2', 'ch3', 'ch4']);
  assert.deepEqual(await chans(ann, { frozen: true }), []);
  assert.deepEqual(await chans(ann, { distinct: false }), ['ch1', 'ch2', 'ch3', 'ch4']);
  assert.deepEqual(await chans(ann, { distinct: true }), []);
});

test('queryChannels: joined, pinned, muted, invite and has_unread follow the querying user', async () => {
  await world();
  const { client: ann } = await eddy.connect({ id: U.ann });
  assert.deepEqual(await chans(ann, { pinned: true }), ['ch2']);
  assert.deepEqual(await chans(ann, { pinned: false }), ['ch1', 'ch3', 'ch4']);
  assert.deepEqual(await chans(ann, { muted: true }), ['ch3']);
  assert.deepEqual(await chans(ann, { muted: false }), ['ch1', 'ch2', 'ch4']);
  assert.deepEqual(await chans(ann, { joined: true }), ['ch1', 'ch2', 'ch3', 'ch4']);
  // ben wrote in ch1 and cat in ch3; ann wrote the only message of ch2.
  assert.deepEqual(await chans(ann, { has_unread: true }), ['ch1', 'ch3']);
  assert.deepEqual(await chans(ann, {}, [{ pinned_at: -1 }, { created_at: 1 }]), ['ch2', 'ch1', 'ch3', 'ch4']);

  const { client: ben } = await eddy.connect({ id: U.ben });
  assert.deepEqual(await chans(ben, { has_unread: true }), ['ch2']);
  const inv = { qtag: `${TAG}-inv` };
  assert.deepEqual(await chans(ben, { ...inv, invite: 'accepted' }), ['inv']);
  assert.deepEqual(await chans(ben, { ...inv, joined: true }), ['inv']);
  assert.deepEqual(await chans(ben, { ...inv, invite: 'pending' }), []);

  // cat never connects (the last_active test counts on it): the server client speaks for her.
  const asCat = { user_id: U.cat };
  assert.deepEqual(await chans(eddy.server, { ...inv, invite: 'pending' }, undefined, asCat), ['inv']);
  assert.deepEqual(await chans(eddy.server, { ...inv, joined: false }, undefined, asCat), ['inv']);
  assert.deepEqual(await chans(eddy.server, { ...inv, joined: true }, undefined, asCat), []);
});

test('queryChannels: sorts and limit/offset pages', async () => {
  await world();
  const { client: ann } = await eddy.connect({ id: U.ann });
  const withMessages = { last_message_at: { $exists: true } };
  assert.deepEqual(await chans(ann, withMessages, { last_message_at: -1 }), ['ch3', 'ch2', 'ch1']);
  assert.deepEqual(await chans(ann, withMessages, [{ last_message_at: 1 }]), ['ch1', 'ch2', 'ch3']);
  assert.deepEqual(await chans(ann, {}, { created_at: -1 }), ['ch4', 'ch3', 'ch2', 'ch1']);
  assert.deepEqual(await chans(ann, {}, [{ member_count: -1 }, { created_at: -1 }]), ['ch3', 'ch1', 'ch4', 'ch2']);
  assert.deepEqual(await chans(ann, { weight: { $exists: true } }, { weight: -1 }), ['ch1', 'ch3', 'ch2']);
  assert.deepEqual(await chans(ann, { weight: { $exists: true } }, [{ topic: 1 }, { weight: 1 }]), ['ch2', 'ch3', 'ch1']);
  const pages = [];
  for (const offset of [0, 1, 2, 3, 4]) pages.push(await chans(ann, {}, { created_at: 1 }, { limit: 1, offset }));
  assert.deepEqual(pages, [['ch1'], ['ch2'], ['ch3'], ['ch4'], []]);
  assert.deepEqual(await chans(ann, {}, { created_at: 1 }, { limit: 3, offset: 2 }), ['ch3', 'ch4']);

  // The hydrated Channel objects come back in the same order.
  const hydrated = await ann.queryChannels({ qtag: TAG }, [{ weight: -1 }], { limit: 2 });
  assert.deepEqual(hydrated.map((c) => c.cid), [W.channel.ch1.cid, W.channel.ch3.cid]);
});

test('queryChannels: bad operators, values and sorts are refused with code 4', async () => {
  await world();
  const { client: ann } = await eddy.connect({ id: U.ann });
  const q = (filter, sort = []) => () => ann.queryChannelsRequest({ qtag: TAG, ...filter }, sort, {});
  assertRefusal(await expectApiError(q({ member_count: { $near: 3 } })), 'member_count', '$near');
  assertRefusal(await expectApiError(q({ member_count: 'x' })), 'member_count');
  assertRefusal(await expectApiError(q({ last_message_at: { $lt: 'not a time' } })), 'last_message_at', '$lt');
  assertRefusal(await expectApiError(q({ cid: { $in: 'messaging:x' } })), 'cid', '$in');
  assertRefusal(await expectApiError(q({ pinned: { $autocomplete: 'tr' } })), 'pinned', '$autocomplete');
  assertRefusal(await expectApiError(q({ $and: [] })), '$and');
  assertRefusal(await expectApiError(q({}, [{ $where: 1 }])), '$where');
});

// ---------------------------------------------------------------------------
// queryUsers
// ---------------------------------------------------------------------------

test('queryUsers: ids, names, roles, teams, dates and custom fields', async () => {
  await world();
  const { client: ann } = await eddy.connect({ id: U.ann });
  assert.deepEqual(await users(ann, { id: { $in: [U.cat, U.ann] } }), ['ann', 'cat']);
  assert.deepEqual(await users(ann, { id: { $nin: [U.cat, U.ann] } }), ['ben', 'dan', 'eve']);
  assert.deepEqual(await users(ann, { id: { $ne: U.eve } }), ['ann', 'ben', 'cat', 'dan']);
  assert.deepEqual(await users(ann, { name: { $autocomplete: 'car' } }), ['cat']);
  assert.deepEqual(await users(ann, { name: { $autocomplete: 'D' } }), ['dan']);
  assert.deepEqual(await users(ann, { name: { $autocomplete: 'e' } }), ['eve']);
  assert.deepEqual(await users(ann, { name: { $autocomplete: 'rcher' } }), []);
  assert.deepEqual(await users(ann, { role: 'admin' }), ['ann']);
  assert.deepEqual(await users(ann, { role: { $in: ['user'] } }), ['ben', 'cat', 'dan', 'eve']);
  assert.deepEqual(await users(ann, { teams: { $contains: 'south' } }), ['ann', 'ben']);
  const created = Object.fromEntries(Object.entries(W.user).map(([k, u]) => [k, u.created_at]));
  assert.deepEqual(await users(ann, { created_at: { $gt: created.ann, $lte: created.cat } }), ['ben', 'cat']);
  assert.deepEqual(await users(ann, { created_at: { $gte: created.eve } }), ['eve']);
  assert.deepEqual(await users(ann, { city: 'Oslo' }), ['ann', 'cat']);
  assert.deepEqual(await users(ann, { city: { $in: ['Rome', 'Lima'] } }), ['ben', 'eve']);
  assert.deepEqual(await users(ann, { rank: { $gt: 5 } }), ['ben', 'eve']);
  assert.deepEqual(await users(ann, { rank: { $eq: 1 } }), ['dan']);
  assert.deepEqual(await users(ann, { $or: [{ city: 'Lima' }, { rank: { $lt: 2 } }] }), ['dan', 'eve']);
});

test('queryUsers: banned', async (t) => {
  await world();
  if (!W.banned) return t.skip('this eddy build does not serve POST /moderation/ban, so nobody can be banned');
  assert.deepEqual(await users(eddy.server, { banned: false }), ['ann', 'ben', 'cat', 'dan']);
  assert.deepEqual(await users(eddy.server, { banned: true }), ['eve']);
});

test('queryUsers: online and last_active follow connections', async () => {
  await world();
  const { client: ann } = await eddy.connect({ id: U.ann });
  await eddy.connect({ id: U.ben });
  await clusterSettled();
  assert.deepEqual(await users(eddy.server, { online: true }), ['ann', 'ben']);
  assert.deepEqual(await users(eddy.server, { online: false }), ['cat', 'dan', 'eve']);
  // cat, dan and eve never connected (cat and dan only wrote through the server client).
  assert.deepEqual(await users(ann, { last_active: { $exists: false } }), ['cat', 'dan', 'eve']);
  assert.deepEqual(await users(ann, { last_active: { $exists: true } }), ['ann', 'ben']);
  const { users: me } = await ann.queryUsers({ id: U.ann });
  assert.equal(me[0].online, true);
});

test('queryUsers: sorts, limit/offset and refusals', async () => {
  await world();
  const { client: ann } = await eddy.connect({ id: U.ann });
  assert.deepEqual(await users(ann, {}, { rank: -1 }), ['ben', 'eve', 'cat', 'ann', 'dan']);
  assert.deepEqual(await users(ann, {}, [{ rank: -1 }], { limit: 2, offset: 2 }), ['cat', 'ann']);
  assert.deepEqual(await users(ann, {}, [{ city: 1 }, { rank: 1 }], { limit: 4 }), ['eve', 'ann', 'cat', 'ben']);
  assert.deepEqual(await users(ann, {}, [{ name: -1 }], { limit: 2 }), ['eve', 'dan']);
  assertRefusal(await expectApiError(() => ann.queryUsers({ qtag: TAG, rank: { $regex: '1' } })), 'rank', '$regex');
  assertRefusal(await expectApiError(() => ann.queryUsers({ qtag: TAG, id: { $nin: U.ann } })), 'id', '$nin');
  assertRefusal(await expectApiError(() => ann.queryUsers({ qtag: TAG, last_active: { $gt: 'x' } })), 'last_active', '$gt');
  assertRefusal(await expectApiError(() => ann.queryUsers({ qtag: TAG, online: 'yes' })), 'online');
});

// ---------------------------------------------------------------------------
// queryMembers (invite channel: ann creator, dan added then moderator, ben invited and accepted, cat invited)
// ---------------------------------------------------------------------------

test('queryMembers: names, ids, roles, invites, created_at and sorts', async () => {
  await world();
  const { client: ann } = await eddy.connect({ id: U.ann });
  const inv = ann.channel('messaging', W.inv.id);
  const m = async (filter, sort = [{ user_id: 1 }], options = {}) =>
    (await inv.queryMembers(filter, sort, options)).members.map((x) => userKey(x.user_id));
  assert.deepEqual(await m({}), ['ann', 'ben', 'cat', 'dan']);
  assert.deepEqual(await m({ name: { $autocomplete: 'bak' } }), ['ben']);
  assert.deepEqual(await m({ name: { $autocomplete: 'a' } }), ['ann']);
  assert.deepEqual(await m({ user_id: { $in: [U.cat, U.dan, U.eve] } }), ['cat', 'dan']);
  assert.deepEqual(await m({ channel_role: 'channel_moderator' }), ['dan']);
  assert.deepEqual(await m({ is_moderator: true }), ['dan']);
  assert.deepEqual(await m({ is_moderator: false }), ['ann', 'ben', 'cat']);
  assert.deepEqual(await m({ invite: 'pending' }), ['cat']);
  assert.deepEqual(await m({ invite: 'accepted' }), ['ben']);
  assert.deepEqual(await m({ joined: true }), ['ann', 'ben', 'dan']);
  assert.deepEqual(await m({ joined: false }), ['cat']);
  assert.deepEqual(await m({ cid: inv.cid }), ['ann', 'ben', 'cat', 'dan']);

  const all = (await inv.queryMembers({}, [{ created_at: 1 }])).members;
  assert.deepEqual(all.map((x) => userKey(x.user_id)), ['ann', 'dan', 'ben', 'cat']);
  const at = Object.fromEntries(all.map((x) => [userKey(x.user_id), x.created_at]));
  assert.deepEqual(await m({ created_at: { $gt: at.dan } }), ['ben', 'cat']);
  assert.deepEqual(await m({ created_at: { $lte: at.dan } }), ['ann', 'dan']);
  assert.deepEqual(await m({}, { name: -1 }), ['dan', 'cat', 'ben', 'ann']);
  assert.deepEqual(await m({}, { user_id: -1 }, { limit: 2, offset: 1 }), ['cat', 'ben']);

  assertRefusal(await expectApiError(() => inv.queryMembers({ name: { $contains: 'a' } })), 'name', '$contains');
  assertRefusal(await expectApiError(() => inv.queryMembers({ invite: 'maybe' })), 'invite');
});

// ---------------------------------------------------------------------------
// search
// ---------------------------------------------------------------------------

test('search: text, message fields, ranges and sorts', async () => {
  await world();
  const { client: ann } = await eddy.connect({ id: U.ann });
  const mine = { qtag: TAG };
  const byCreated = { sort: [{ created_at: 1 }] };
  assert.deepEqual(await found(ann, mine, 'deploy', byCreated), ['m1', 'm3', 'm4']);
  assert.deepEqual(await found(ann, mine, { text: { $q: 'deploy report' } }), ['m3']);
  assert.deepEqual(await found(ann, mine, { text: { $autocomplete: 'PHO' } }), ['m4']);
  assert.deepEqual(await found(ann, mine, { text: { $autocomplete: 'lou' } }), ['m2']);
  assert.deepEqual(await found(ann, mine, { attachments: { $exists: true } }, byCreated), ['m3', 'm4']);
  assert.deepEqual(await found(ann, mine, { attachments: { $exists: false } }, byCreated), ['m1', 'm2']);
  assert.deepEqual(await found(ann, mine, { 'attachments.type': { $in: ['image', 'video'] } }), ['m4']);
  assert.deepEqual(await found(ann, mine, { 'mentioned_users.id': { $contains: U.ben } }), ['m2']);
  assert.deepEqual(await found(ann, mine, { 'user.id': { $in: [U.ben, U.dan] } }, byCreated), ['m1', 'm4']);
  assert.deepEqual(await found(ann, mine, { kind: 'report' }, byCreated), ['m3', 'm4']);
  assert.deepEqual(await found(ann, mine, { score: { $gte: 5 } }, byCreated), ['m2', 'm3']);
  assert.deepEqual(await found(ann, mine, { parent_id: W.msg.m3.id }), ['m4']);
  const at = Object.fromEntries(Object.entries(W.msg).map(([k, m]) => [k, m.created_at]));
  assert.deepEqual(await found(ann, mine, { created_at: { $gt: at.m1, $lte: at.m3 } }, byCreated), ['m2', 'm3']);
  assert.deepEqual(await found(ann, mine, { created_at: { $gte: at.m1 } }, { sort: [{ score: -1 }] }), ['m2', 'm3', 'm1', 'm4']);
  assert.deepEqual(await found(ann, mine, { created_at: { $gte: at.m1 } }, { sort: { created_at: -1 } }), ['m4', 'm3', 'm2', 'm1']);
  assert.deepEqual(
    await found(ann, mine, { created_at: { $gte: at.m1 } }, { sort: [{ kind: -1 }, { score: 1 }] }),
    ['m4', 'm3', 'm1', 'm2'],
  );
  // Each text uses "deploy" once, so the shorter text is the more relevant. (eddy's default order is
  // by id, not Stream's relevance-first: see docs/endpoints.md.)
  assert.deepEqual(await found(ann, mine, 'deploy', { sort: [{ relevance: -1 }] }), ['m4', 'm3', 'm1']);
  assert.deepEqual(await found(ann, mine, 'deploy', { sort: [{ relevance: 1 }] }), ['m1', 'm3', 'm4']);

  // channel.search narrows to one channel; ben cannot search ch3, which he is not in.
  const ch3 = ann.channel('messaging', W.channel.ch3.id);
  const { results } = await ch3.search('deploy', { sort: [{ created_at: -1 }] });
  assert.deepEqual(results.map((r) => W.mkey[r.message.id]), ['m4', 'm3']);
  const { client: ben } = await eddy.connect({ id: U.ben });
  assert.deepEqual(await found(ben, mine, 'deploy', byCreated), ['m1']);
});

test('search: next cursor pages without repeats; offset with sort is refused', async () => {
  await world();
  const { client: ann } = await eddy.connect({ id: U.ann });
  const mine = { qtag: TAG };
  const everything = { created_at: { $gte: W.msg.m1.created_at } };
  const seen = [];
  let next;
  let pages = 0;
  do {
    const resp = await ann.search(mine, everything, { limit: 3, sort: [{ created_at: 1 }], ...(next ? { next } : {}) });
    seen.push(...resp.results.map((r) => W.mkey[r.message.id]));
    next = resp.next;
    pages += 1;
    assert.ok(pages < 5, 'the cursor never ends');
  } while (next);
  assert.deepEqual(seen, ['m1', 'm2', 'm3', 'm4']);
  assert.equal(pages, 2);

  const refused = await expectApiError(() => ann.search(mine, 'deploy', { offset: 1, sort: [{ created_at: 1 }] }));
  assertRefusal(refused, 'offset');
  assertRefusal(await expectApiError(() => ann.search(mine, { text: { $regex: 'dep' } })), 'text', '$regex');
  assertRefusal(await expectApiError(() => ann.search(mine, { 'attachments.type': { $contains: 'image' } })), 'attachments.type', '$contains');
});

test(
  'search: without a full-text query the default order is by id (spec default [{relevance:-1},{id:1}])',
  async () => {
    await world();
    const { client: ann } = await eddy.connect({ id: U.ann });
    const { results } = await ann.search({ qtag: TAG }, { created_at: { $gte: W.msg.m1.created_at } });
    const ids = Object.values(W.msg).map((m) => m.id);
    assert.deepEqual(results.map((r) => r.message.id), [...ids].sort());
  },
);
