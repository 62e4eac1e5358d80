// Pinned messages on the legacy layout: channel.getPinnedMessages(options, sort) sends one
// `payload` query parameter; the list follows pin times, pages, bounds and expiries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, uniqueId, expectApiError } from '../harness.js';

const eddy = useEddy();

test('getPinnedMessages: newest pin first, sorted, paged, bounded, expiring and permission-checked', async () => {
  const { a, aCh, bCh } = await eddy.watchedPair(uniqueId('pins'));
  const sent = [];
  for (let i = 0; i < 4; i += 1) {
    sent.push((await aCh.sendMessage({ text: `m${i}` })).message);
  }
  // Pinned out of send order; m1 with a one-second expiry.
  const pinned = {};
  for (const i of [2, 0, 3]) {
    pinned[i] = (await a.pinMessage(sent[i].id)).message;
  }
  await a.pinMessage(sent[1].id, 1);
  const ids = (res) => res.messages.map((m) => m.text);

  const all = await bCh.getPinnedMessages({});
  assert.deepEqual(ids(all), ['m1', 'm3', 'm0', 'm2']);
  assert.ok(all.messages.every((m) => m.pinned && m.pinned_by?.id === a.userID));
  assert.deepEqual(ids(await bCh.getPinnedMessages({ limit: 2, offset: 1 })), ['m3', 'm0']);
  assert.deepEqual(ids(await bCh.getPinnedMessages({}, { pinned_at: 1 })), ['m2', 'm0', 'm3', 'm1']);
  assert.deepEqual(
    ids(await bCh.getPinnedMessages({ pinned_at_before: pinned[3].pinned_at })),
    ['m0', 'm2'],
  );
  assert.deepEqual(ids(await bCh.getPinnedMessages({ id_gte: sent[0].id }, { pinned_at: 1 })), [
    'm0',
    'm3',
    'm1',
  ]);

  // The expiry passes; unpinning takes a message off at once.
  await new Promise((resolve) => setTimeout(resolve, 1200));
  await a.unpinMessage(sent[0].id);
  assert.deepEqual(ids(await aCh.getPinnedMessages({})), ['m3', 'm2']);

  // Someone who may not read the channel is refused.
  const { client: outsider } = await eddy.connect({ id: uniqueId('outsider') });
  const err = await expectApiError(() =>
    outsider.channel('messaging', aCh.id).getPinnedMessages({}),
  );
  assert.equal(err.status, 403);
  assert.equal(err.body.code, 17);
  // Only pinned_at sorts pinned messages.
  const bad = await expectApiError(() => aCh.getPinnedMessages({}, { created_at: -1 }));
  assert.equal(bad.body.code, 4);
});
