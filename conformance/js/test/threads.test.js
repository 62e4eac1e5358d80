// Threads with the official JS SDK: queryThreads (filters, sorts, cursors), getThread, partialUpdateThread.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, waitForEvent, uniqueId, expectApiError } from '../harness.js';

const eddy = useEddy();

async function threadWithReplies(aCh, bCh, text, replies) {
  const parent = (await aCh.sendMessage({ text })).message;
  for (const [channel, reply] of replies) {
    await (channel === 'a' ? aCh : bCh).sendMessage({ text: reply, parent_id: parent.id });
  }
  return parent;
}

test('queryThreads lists the threads a user takes part in, with replies, participants and read state', async () => {
  const { a, b, aCh, bCh } = await eddy.watchedPair(uniqueId('threads'));
  const first = await threadWithReplies(aCh, bCh, 'first thread', [
    ['b', 'reply one'],
    ['a', 'reply two'],
    ['b', 'reply three'],
  ]);
  const second = await threadWithReplies(aCh, bCh, 'second thread', [['a', 'only alice']]);

  // Bob took part only in the first thread.
  const forBob = await b.queryThreads({ reply_limit: 2, participant_limit: 10 });
  assert.deepEqual(forBob.threads.map((t) => t.id), [first.id]);
  const thread = forBob.threads[0].state.getLatestValue();
  assert.equal(thread.parentMessage.text, 'first thread');
  assert.equal(thread.replyCount, 3);
  assert.deepEqual(thread.replies.map((r) => r.text), ['reply two', 'reply three']);
  assert.deepEqual(thread.participants.map((p) => p.user_id).sort(), ['alice', 'bob']);
  assert.equal(thread.channel.cid, aCh.cid);

  // Alice is in both; latest reply first by default.
  const forAlice = await a.queryThreads({});
  assert.deepEqual(forAlice.threads.map((t) => t.id), [second.id, first.id]);

  // Filters and sorts.
  const byCount = await a.queryThreads({
    filter: { reply_count: { $gte: 2 } },
    sort: [{ reply_count: -1 }],
  });
  assert.deepEqual(byCount.threads.map((t) => t.id), [first.id]);
  const byCreator = await a.queryThreads({
    filter: { created_by_user_id: { $eq: 'alice' }, channel_cid: { $in: [aCh.cid] } },
    sort: [{ created_at: 1 }],
  });
  assert.deepEqual(byCreator.threads.map((t) => t.id), [first.id, second.id]);

  // Cursor pages.
  const page1 = await a.queryThreads({ limit: 1 });
  assert.equal(page1.threads.length, 1);
  assert.ok(page1.next, 'a full page has a next cursor');
  const page2 = await a.queryThreads({ limit: 1, next: page1.next });
  assert.equal(page2.threads.length, 1);
  assert.notEqual(page2.threads[0].id, page1.threads[0].id);

  // Unknown fields are refused with code 4.
  const refused = await expectApiError(() => a.queryThreads({ filter: { colour: 'blue' } }));
  assert.equal(refused.status, 400);
  assert.equal(refused.code, 4);
  assert.match(refused.body.message, /colour/);
});

test('getThread and partialUpdateThread: title and custom data, thread.updated to watchers', async () => {
  const { a, aCh, bCh } = await eddy.watchedPair(uniqueId('thread-update'));
  const parent = await threadWithReplies(aCh, bCh, 'to be titled', [['b', 'a reply']]);

  const fetched = await a.getThread(parent.id, { reply_limit: 5 });
  assert.equal(fetched.id, parent.id);
  assert.deepEqual(fetched.state.getLatestValue().replies.map((r) => r.text), ['a reply']);

  const updated = waitForEvent(bCh, 'thread.updated', (e) => e.thread?.parent_message_id === parent.id);
  const response = await a.partialUpdateThread(parent.id, { set: { title: 'Plans', topic: 'travel' } });
  assert.equal(response.thread.title, 'Plans');
  assert.equal(response.thread.custom.topic, 'travel');
  const event = await updated;
  assert.equal(event.thread.title, 'Plans');

  const again = await a.getThread(parent.id);
  assert.equal(again.state.getLatestValue().title, 'Plans');
  // The parent message itself does not carry the thread's data.
  const message = await a.getMessage(parent.id);
  assert.equal(message.message.thread, undefined);

  // The SDK refuses reserved keys itself; the server does too.
  const reserved = await expectApiError(() =>
    a.patch(`${a.baseURL}/threads/${parent.id}`, { set: { reply_count: 9 } }),
  );
  assert.equal(reserved.code, 4);
  const missing = await expectApiError(() => a.getThread('no-such-message'));
  assert.equal(missing.status, 404);
});
