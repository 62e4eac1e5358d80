// Mutes from a user client: notification.mutes_updated updates the SDK's muted users, and me.mutes survives a reconnect.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, waitForEvent, uniqueId } from '../harness.js';

const eddy = useEddy();

test('muteUser updates client.mutedUsers through notification.mutes_updated and me.mutes', async () => {
  const muter = uniqueId('muter');
  const loud = uniqueId('loud');
  await eddy.server.upsertUsers([{ id: muter }, { id: loud }]);
  const { client } = await eddy.connect({ id: muter });
  assert.deepEqual(client.mutedUsers, []);

  const updated = waitForEvent(client, 'notification.mutes_updated');
  await client.muteUser(loud);
  const event = await updated;
  assert.deepEqual(event.me.mutes.map((m) => m.target.id), [loud]);
  assert.deepEqual(client.mutedUsers.map((m) => m.target.id), [loud]);

  await client.disconnectUser();
  const { client: again } = await eddy.connect({ id: muter });
  assert.deepEqual(again.mutedUsers.map((m) => m.target.id), [loud], 'me.mutes at connect');
});
