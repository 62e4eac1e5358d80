// Video with Stream's SDKs: @stream-io/node-sdk on /api/v2/video (server side) and
// @stream-io/video-client in Node on /video and the coordinator WebSocket /video/connect. A second
// user's client receives the call events the spec routes to members and watchers; with two nodes the
// video client is on the other node from the server SDK, so events cross the bus.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { StreamClient } from '@stream-io/node-sdk';
import { StreamVideoClient } from '@stream-io/video-client';
import { useEddy, uniqueId, apiError } from '../harness.js';

const eddy = useEddy();
let cached;
const sdk = () => {
  cached ??= new StreamClient(eddy.apiKey, eddy.apiSecret, { basePath: eddy.url, timeout: 10_000 });
  return cached;
};

const clients = [];
/** A connected video client for `userId`, on the last node of the cluster. */
async function videoClient(userId) {
  const node = eddy.nodeUrls[eddy.nodeUrls.length - 1];
  const client = new StreamVideoClient(eddy.apiKey, {
    baseURL: `${node}/video`,
    locationHintUrl: `${node}/healthz`,
    WebSocketImpl: WebSocket,
    clientEventsReportingEnabled: false,
    timeout: 10_000,
    logLevel: 'error',
  });
  clients.push(client);
  await client.connectUser({ id: userId, name: `name of ${userId}` }, sdk().generateUserToken({ user_id: userId }));
  return client;
}

test.afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.disconnectUser().catch(() => {})));
});

/** Resolves with the first event of `type` matching `match`, or rejects after `ms`. */
function nextEvent(client, type, match = () => true, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${type} event within ${ms} ms`));
    }, ms);
    const off = client.on(type, (event) => {
      if (!match(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}

test('a member receives call.created and call.ring over the coordinator WebSocket', async () => {
  const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
  const bobClient = await videoClient(bob);
  const id = uniqueId('call');
  const created = nextEvent(bobClient, 'call.created', (e) => e.call.id === id);
  const ring = nextEvent(bobClient, 'call.ring', (e) => e.call.id === id);
  const state = await sdk().video.call('default', id).getOrCreate({
    ring: true,
    data: { created_by_id: alice, members: [{ user_id: alice }, { user_id: bob }] },
  });
  assert.equal(state.created, true);
  assert.equal(state.call.created_by.id, alice);
  // The node SDK decodes the nanosecond times of /api/v2 into Dates.
  assert.ok(state.call.created_at instanceof Date);
  const createdEvent = await created;
  assert.equal(createdEvent.call_cid, `default:${id}`);
  assert.deepEqual(createdEvent.members.map((m) => m.user_id).sort(), [alice, bob].sort());
  const ringEvent = await ring;
  assert.equal(ringEvent.user.id, alice);
  assert.deepEqual(ringEvent.members.map((m) => m.user_id), [bob]);
  // The client registered the rung call and can read it (RFC 3339 times on /video).
  const call = bobClient.call('default', id);
  const got = await call.get();
  assert.equal(got.call.cid, `default:${id}`);
  assert.ok(!Number.isNaN(new Date(got.call.created_at).getTime()));
  assert.ok(got.own_capabilities.includes('join-call'));
});

test('added members hear call.member_added and watchers hear custom events', async () => {
  const [alice, bob, carol] = [uniqueId('alice'), uniqueId('bob'), uniqueId('carol')];
  const id = uniqueId('call');
  const serverCall = sdk().video.call('default', id);
  await serverCall.getOrCreate({ data: { created_by_id: alice, members: [{ user_id: alice }] } });
  const bobClient = await videoClient(bob);
  const added = nextEvent(bobClient, 'call.member_added', (e) => e.call_cid === `default:${id}`);
  const members = await serverCall.updateCallMembers({ update_members: [{ user_id: bob, role: 'host' }] });
  assert.deepEqual(members.members.map((m) => [m.user_id, m.role]), [[bob, 'host']]);
  const addedEvent = await added;
  assert.deepEqual(addedEvent.members.map((m) => m.user_id), [bob]);

  // Carol is no member: she watches the call by reading it with her connection, then hears custom events.
  const carolClient = await videoClient(carol);
  await carolClient.call('default', id).get();
  const custom = nextEvent(carolClient, 'custom', (e) => e.call_cid === `default:${id}`);
  await serverCall.sendCallEvent({ user_id: alice, custom: { kind: 'wave' } });
  const customEvent = await custom;
  assert.deepEqual(customEvent.custom, { kind: 'wave' });
  assert.equal(customEvent.user.id, alice);
});

test('go live, permission requests, blocks and the end of a call reach the clients', async () => {
  const [host, guest] = [uniqueId('host'), uniqueId('guest')];
  const id = uniqueId('room');
  const serverCall = sdk().video.call('audio_room', id);
  await serverCall.getOrCreate({ data: { created_by_id: host, members: [{ user_id: host }, { user_id: guest }] } });
  const hostClient = await videoClient(host);
  const guestClient = await videoClient(guest);
  const guestCall = guestClient.call('audio_room', id);
  await guestCall.get();
  assert.ok(!guestCall.state.ownCapabilities.includes('send-audio'));

  const live = nextEvent(guestClient, 'call.live_started', (e) => e.call_cid === `audio_room:${id}`);
  const wentLive = await serverCall.goLive();
  assert.equal(wentLive.call.backstage, false);
  assert.equal((await live).call.backstage, false);

  const request = nextEvent(hostClient, 'call.permission_request', (e) => e.call_cid === `audio_room:${id}`);
  await guestCall.requestPermissions({ permissions: ['send-audio'] });
  const asked = await request;
  assert.equal(asked.user.id, guest);
  assert.deepEqual(asked.permissions, ['send-audio']);

  const granted = nextEvent(guestClient, 'call.permissions_updated', (e) => e.user.id === guest);
  await serverCall.updateUserPermissions({ user_id: guest, grant_permissions: ['send-audio'] });
  assert.ok((await granted).own_capabilities.includes('send-audio'));

  const blocked = nextEvent(hostClient, 'call.blocked_user', (e) => e.call_cid === `audio_room:${id}`);
  await serverCall.blockUser({ user_id: guest });
  assert.equal((await blocked).user.id, guest);
  const refused = await apiError(guestCall.get());
  assert.match(String(refused.message), /not allowed/);

  const ended = nextEvent(hostClient, 'call.ended', (e) => e.call_cid === `audio_room:${id}`);
  await serverCall.end();
  assert.ok((await ended).call.ended_at);
});

test('joining says no media server is configured', async () => {
  const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
  const id = uniqueId('call');
  await sdk().video.call('default', id).getOrCreate({
    data: { created_by_id: alice, members: [{ user_id: alice }, { user_id: bob }] },
  });
  const bobClient = await videoClient(bob);
  const call = bobClient.call('default', id);
  const error = await apiError(call.join({ maxJoinRetries: 1 }));
  assert.match(String(error.message), /no media server/);
});
