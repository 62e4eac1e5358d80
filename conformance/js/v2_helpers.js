// Helpers of the v2 (@stream-io/node-sdk) conformance tests: the server-side v2 client, users and
// channels made through /api/v2, expected failures and task polling.
import assert from 'node:assert/strict';
import { StreamClient } from '@stream-io/node-sdk';
import { uniqueId } from './harness.js';

/** Helpers bound to one harness (`useEddy()`); the client is made once eddy has started. */
export function v2Helpers(eddy) {
  let cached;
  const sdk = () => {
    cached ??= new StreamClient(eddy.apiKey, eddy.apiSecret, { basePath: eddy.url, timeout: 10_000 });
    return cached;
  };

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

  return { sdk, user, channel, settled };
}

/** A Date (as the SDK decodes integer nanoseconds) within two minutes of now. */
export const recent = (date) => date instanceof Date && Math.abs(Date.now() - date.getTime()) < 120_000;

export { apiError } from './harness.js';
