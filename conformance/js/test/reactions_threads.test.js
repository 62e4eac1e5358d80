// Scenarios 3 and 4: reactions, thread replies and quoted replies.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, waitForEvent, uniqueId } from '../harness.js';

const eddy = useEddy();

async function sendAndDeliver(fromCh, toCh, message) {
  const delivered = waitForEvent(toCh, 'message.new', (e) => e.message?.text === message.text);
  const res = await fromCh.sendMessage(message);
  await delivered;
  return res.message;
}

test('reactions: add, list, delete', async () => {
  const { aCh: aliceCh, bCh: bobCh } = await eddy.watchedPair(uniqueId('react'));
  const msg = await sendAndDeliver(aliceCh, bobCh, { text: 'react to me' });

  const gotNew = waitForEvent(aliceCh, 'reaction.new', (e) => e.reaction?.type === 'love');
  const sent = await bobCh.sendReaction(msg.id, { type: 'love' });
  assert.equal(sent.reaction.type, 'love');
  assert.equal(sent.reaction.user_id, 'bob');
  assert.equal(sent.reaction.message_id, msg.id);
  assert.equal(sent.reaction.score, 1);
  assert.equal(sent.message.id, msg.id);
  assert.equal(sent.message.reaction_counts.love, 1);

  const ev = await gotNew;
  assert.equal(ev.cid, aliceCh.cid);
  assert.equal(ev.user.id, 'bob');
  assert.equal(ev.reaction.type, 'love');
  assert.equal(ev.reaction.user_id, 'bob');
  assert.equal(ev.message.id, msg.id);
  assert.equal(ev.message.reaction_counts.love, 1);
  assert.equal(ev.message.reaction_scores.love, 1);
  assert.equal(ev.message.reaction_groups?.love?.count, 1);
  assert.equal(ev.message.reaction_groups?.love?.sum_scores, 1);
  assert.deepEqual(
    ev.message.latest_reactions.map((r) => [r.type, r.user_id]),
    [['love', 'bob']],
  );
  const inAliceState = aliceCh.state.messages.find((m) => m.id === msg.id);
  assert.equal(inAliceState.reaction_counts.love, 1);

  const listed = await aliceCh.getReactions(msg.id, {});
  assert.deepEqual(
    listed.reactions.map((r) => [r.type, r.user_id, r.message_id]),
    [['love', 'bob', msg.id]],
  );
  assert.equal(listed.reactions[0].user.id, 'bob');

  const gotDeleted = waitForEvent(aliceCh, 'reaction.deleted', (e) => e.reaction?.type === 'love');
  const del = await bobCh.deleteReaction(msg.id, 'love');
  assert.equal(del.reaction.type, 'love');
  assert.equal(del.message.id, msg.id);
  assert.ok(!del.message.reaction_counts?.love, 'love count must be 0 or absent after deletion');
  const dev = await gotDeleted;
  assert.equal(dev.user.id, 'bob');
  assert.equal(dev.reaction.user_id, 'bob');
  assert.equal(dev.message.id, msg.id);
  assert.ok(!dev.message.reaction_counts?.love, 'love count must be 0 or absent in reaction.deleted');
  assert.deepEqual(dev.message.latest_reactions, []);

  const after = await aliceCh.getReactions(msg.id, {});
  assert.deepEqual(after.reactions, []);
});

test('score reactions and enforce_unique', async () => {
  const { aCh: aliceCh, bCh: bobCh } = await eddy.watchedPair(uniqueId('score'));
  const msg = await sendAndDeliver(aliceCh, bobCh, { text: 'clap for me' });

  const clapEvent = waitForEvent(aliceCh, 'reaction.new', (e) => e.reaction?.type === 'clap');
  const clap = await bobCh.sendReaction(msg.id, { type: 'clap', score: 5 });
  assert.equal(clap.reaction.score, 5);
  assert.equal(clap.message.reaction_counts.clap, 1);
  assert.equal(clap.message.reaction_scores.clap, 5);
  const cev = await clapEvent;
  assert.equal(cev.reaction.score, 5);
  assert.equal(cev.message.reaction_scores.clap, 5);

  // enforce_unique replaces all of bob's reactions on the message.
  const replaced = waitForEvent(aliceCh, 'reaction.updated', (e) => e.reaction?.type === 'fire');
  const fire = await bobCh.sendReaction(msg.id, { type: 'fire', score: 2 }, { enforce_unique: true });
  assert.equal(fire.reaction.type, 'fire');
  assert.equal(fire.reaction.score, 2);
  assert.equal(fire.message.reaction_counts.fire, 1);
  assert.equal(fire.message.reaction_scores.fire, 2);
  assert.ok(!fire.message.reaction_counts.clap, 'clap must be gone after enforce_unique');
  const rev = await replaced;
  assert.equal(rev.user.id, 'bob');
  assert.equal(rev.message.reaction_counts.fire, 1);
  assert.ok(!rev.message.reaction_counts.clap);
  const inAliceState = aliceCh.state.messages.find((m) => m.id === msg.id);
  assert.equal(inAliceState.reaction_counts.fire, 1);
  assert.ok(!inAliceState.reaction_counts.clap, "clap must be gone from alice's channel state");

  const listed = await aliceCh.getReactions(msg.id, {});
  assert.deepEqual(
    listed.reactions.map((r) => [r.type, r.user_id, r.score]),
    [['fire', 'bob', 2]],
  );
});

test('thread replies and reply_count', async () => {
  const { a: alice, aCh: aliceCh, bCh: bobCh } = await eddy.watchedPair(uniqueId('thread'));
  const parent = await sendAndDeliver(aliceCh, bobCh, { text: 'thread parent' });

  const replyEvent = waitForEvent(aliceCh, 'message.new', (e) => e.message?.parent_id === parent.id);
  const r1 = await bobCh.sendMessage({ text: 'reply 1', parent_id: parent.id });
  assert.equal(r1.message.parent_id, parent.id);
  assert.equal(r1.message.type, 'reply');
  const rev = await replyEvent;
  assert.equal(rev.message.id, r1.message.id);
  assert.equal(rev.message.parent_id, parent.id);
  assert.equal(rev.message.text, 'reply 1');
  assert.equal(rev.user.id, 'bob');

  const fetched = await alice.getMessage(parent.id);
  assert.equal(fetched.message.reply_count, 1);
  assert.ok(
    (fetched.message.thread_participants ?? []).some((u) => u.id === 'bob'),
    `parent thread_participants must include the replier, got ${JSON.stringify(fetched.message.thread_participants)}`,
  );

  const r2 = await aliceCh.sendMessage({ text: 'reply 2', parent_id: parent.id });
  const r3 = await bobCh.sendMessage({ text: 'reply 3', parent_id: parent.id });

  const replies = await aliceCh.getReplies(parent.id, { limit: 10 });
  assert.deepEqual(
    replies.messages.map((m) => m.id),
    [r1.message.id, r2.message.id, r3.message.id],
    'replies must be returned in ascending order',
  );
  assert.deepEqual(
    replies.messages.map((m) => m.text),
    ['reply 1', 'reply 2', 'reply 3'],
  );
  for (const m of replies.messages) assert.equal(m.parent_id, parent.id);

  const parentNow = await alice.getMessage(parent.id);
  assert.equal(parentNow.message.reply_count, 3);

  // Thread replies are not part of the channel's main message list.
  const state = await aliceCh.query({ messages: { limit: 25 } });
  assert.deepEqual(state.messages.map((m) => m.id), [parent.id]);
});

test('a reply updates the parent via message.updated', async () => {
  const { aCh: aliceCh, bCh: bobCh } = await eddy.watchedPair(uniqueId('parent-upd'));
  const parent = await sendAndDeliver(aliceCh, bobCh, { text: 'parent for update' });

  const parentUpdated = waitForEvent(
    aliceCh,
    'message.updated',
    (e) => e.message?.id === parent.id && e.message.reply_count === 1,
  );
  await bobCh.sendMessage({ text: 'first reply', parent_id: parent.id });
  const ev = await parentUpdated;
  assert.equal(ev.message.reply_count, 1);
  assert.equal(ev.cid, aliceCh.cid);
});

test('quoted reply carries quoted_message', async () => {
  const { aCh: aliceCh, bCh: bobCh } = await eddy.watchedPair(uniqueId('quote'));
  const original = await sendAndDeliver(aliceCh, bobCh, { text: 'quote me' });

  const gotQuote = waitForEvent(aliceCh, 'message.new', (e) => e.message?.text === 'quoting you');
  const res = await bobCh.sendMessage({ text: 'quoting you', quoted_message_id: original.id });
  assert.equal(res.message.quoted_message_id, original.id);
  assert.equal(res.message.quoted_message?.id, original.id);
  assert.equal(res.message.quoted_message?.text, 'quote me');
  assert.equal(res.message.quoted_message?.user?.id, 'alice');

  const ev = await gotQuote;
  assert.equal(ev.message.quoted_message_id, original.id);
  assert.equal(ev.message.quoted_message?.id, original.id);
  assert.equal(ev.message.quoted_message?.text, 'quote me');

  // Also after a fresh read of the channel.
  const state = await aliceCh.query({ messages: { limit: 25 } });
  const stored = state.messages.find((m) => m.id === res.message.id);
  assert.equal(stored.quoted_message?.id, original.id);
});
