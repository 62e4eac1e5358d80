// Presence: a watcher with presence: true sees a member come online, and the SDK's user state follows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, waitForEvent, uniqueId } from '../harness.js';

const eddy = useEddy();

test('user.presence.changed reaches presence subscribers when a member connects', async () => {
  const alice = uniqueId('alice');
  const bob = uniqueId('bob');
  await eddy.server.upsertUsers([{ id: alice }, { id: bob, name: 'Bob' }]);
  const { client: aliceClient } = await eddy.connect({ id: alice });
  const channel = aliceClient.channel('messaging', uniqueId('presence'), { members: [alice, bob] });
  const state = await channel.watch({ presence: true });
  const bobMember = state.members.find((m) => m.user_id === bob);
  assert.equal(bobMember.user.online, false, 'bob is offline before connecting');

  const cameOnline = waitForEvent(aliceClient, 'user.presence.changed', (e) => e.user?.id === bob);
  await eddy.connect({ id: bob });
  const event = await cameOnline;
  assert.equal(event.user.online, true);
  assert.equal(event.user.name, 'Bob');
  assert.equal(channel.state.members[bob].user.online, true, 'the SDK updated the member from the event');
});
