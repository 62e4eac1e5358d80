// Push devices from a user client: addDevice / getDevices / removeDevice, and me.devices after a reconnect.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, uniqueId } from '../harness.js';

const eddy = useEddy();

test('devices are registered, listed in me.devices and removed', async () => {
  const id = uniqueId('phone');
  const { client } = await eddy.connect({ id });
  await client.addDevice('token-1', 'firebase');
  await client.addDevice('token-2', 'apn', undefined, 'production');
  const { devices } = await client.getDevices();
  assert.deepEqual(devices.map((d) => [d.id, d.push_provider]), [['token-1', 'firebase'], ['token-2', 'apn']]);
  assert.equal(devices[1].push_provider_name, 'production');
  await client.removeDevice('token-1');
  await client.disconnectUser();
  const { me } = await eddy.connect({ id });
  assert.deepEqual(me.devices.map((d) => d.id), ['token-2']);
});
