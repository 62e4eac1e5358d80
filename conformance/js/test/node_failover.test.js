// Two nodes of one cluster (EDDY_CONFORMANCE_NODES=2): the node of one user dies mid-conversation
// (SIGKILL); that user continues on the other node and finds every acknowledged message, once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, waitForEvent, uniqueId, CLUSTER_NODES } from '../harness.js';

const eddy = useEddy();

test(
  'a node dies mid-conversation and its user continues on the other',
  { skip: CLUSTER_NODES < 2 && 'needs two nodes (EDDY_CONFORMANCE_NODES=2)' },
  async () => {
    const id = uniqueId('failover');
    const { client: alice } = await eddy.connect({ id: 'alice' }, { node: 0 });
    const { client: bob } = await eddy.connect({ id: 'bob' }, { node: 1 });
    const aliceCh = alice.channel('messaging', id, { members: ['alice', 'bob'] });
    await aliceCh.watch();
    const bobCh = bob.channel('messaging', id);
    await bobCh.watch();

    // Messages acknowledged by either node, and seen across nodes while both live.
    const acknowledged = [];
    for (let i = 0; i < 5; i += 1) {
      const heard = waitForEvent(bobCh, 'message.new', (e) => e.message?.text === `alice ${i}`);
      acknowledged.push((await aliceCh.sendMessage({ text: `alice ${i}` })).message.id);
      await heard;
      acknowledged.push((await bobCh.sendMessage({ text: `bob ${i}` })).message.id);
    }

    await eddy._nodes[1].kill();
    // Alice keeps talking on the surviving node while bob is away.
    acknowledged.push((await aliceCh.sendMessage({ text: 'while you were away' })).message.id);

    // Bob's client comes back through the surviving node (as a load balancer would send it).
    const { client: bobAgain } = await eddy.connect({ id: 'bob' }, { node: 0 });
    const bobAgainCh = bobAgain.channel('messaging', id);
    const state = await bobAgainCh.watch({ messages: { limit: 100 } });
    const ids = state.messages.map((m) => m.id);
    assert.deepEqual([...ids].sort(), [...acknowledged].sort(), 'every acknowledged message, once');

    // And the conversation goes on live.
    const live = waitForEvent(bobAgainCh, 'message.new', (e) => e.message?.text === 'welcome back');
    await aliceCh.sendMessage({ text: 'welcome back' });
    await live;
  },
);
