// Slow mode through the JS SDK: enableSlowMode/disableSlowMode set the channel's cooldown, a
// member's second message within it is refused with code 60, moderators skip it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, waitForEvent, expectApiError, uniqueId } from '../harness.js';

const eddy = useEddy();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('a channel moderator turns slow mode on and off; a plain member may not', async () => {
  const { a: owner, b: member, aCh, bCh, id } = await eddy.watchedPair(
    uniqueId('slowset'),
    uniqueId('owner'),
    uniqueId('member'),
  );
  await eddy.server.channel('messaging', id).addModerators([owner.userID]);

  const updated = waitForEvent(bCh, 'channel.updated', (e) => e.channel?.cooldown === 5);
  const enabled = await aCh.enableSlowMode(5);
  assert.equal(enabled.channel.cooldown, 5);
  await updated;
  assert.equal(bCh.data.cooldown, 5, 'the member sees the cooldown through channel.updated');

  const refused = await expectApiError(() => bCh.enableSlowMode(1));
  assert.equal(refused.status, 403);
  assert.equal(refused.code, 17);
  assert.match(refused.body.message, /update-channel-cooldown/);

  await aCh.disableSlowMode();
  const state = await eddy.server.queryChannels({ id }, {}, { user_id: member.userID });
  assert.equal(state[0].data.cooldown ?? 0, 0);
});

test('a member waits out the cooldown between messages; moderators do not', async () => {
  const { a: owner, aCh, bCh, id } = await eddy.watchedPair(
    uniqueId('slow'),
    uniqueId('owner'),
    uniqueId('member'),
  );
  await eddy.server.channel('messaging', id).addModerators([owner.userID]);
  await aCh.enableSlowMode(1);

  const first = await bCh.sendMessage({ text: 'first' });
  assert.equal(first.message.text, 'first');
  const refused = await expectApiError(() => bCh.sendMessage({ text: 'too soon' }));
  assert.equal(refused.status, 403);
  assert.equal(refused.code, 60);
  assert.match(refused.body.message, /slow mode/);

  // The channel moderator holds skip-channel-cooldown.
  await aCh.sendMessage({ text: 'mod one' });
  await aCh.sendMessage({ text: 'mod two' });

  await sleep(1100);
  const later = await bCh.sendMessage({ text: 'after the cooldown' });
  assert.equal(later.message.text, 'after the cooldown');

  const { messages } = await eddy.server
    .channel('messaging', id)
    .query({ messages: { limit: 10 } });
  assert.deepEqual(
    messages.map((m) => m.text),
    ['first', 'mod one', 'mod two', 'after the cooldown'],
  );
});
