// Scenarios 10 and 11: authentication refusals and validation errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useEddy, connectErrorDetails, expectApiError, uniqueId, StreamChat } from '../harness.js';

const eddy = useEddy();

async function connectFailure(client, user, token) {
  client.defaultWSTimeout = 6000; // fail fast if the server never answers
  try {
    await client.connectUser(user, token);
  } catch (err) {
    return connectErrorDetails(err);
  }
  throw new Error('connectUser resolved, expected it to be rejected');
}

test('a token signed with the wrong secret is rejected with code 43', async () => {
  const forger = new StreamChat(eddy.apiKey, 'not-the-app-secret-' + 'x'.repeat(32));
  const token = forger.createToken('mallory');
  const err = await connectFailure(eddy.newUserClient('mallory'), { id: 'mallory' }, token);
  assert.equal(err.code, 43, `expected code 43, got ${JSON.stringify(err)}`);
  assert.equal(err.StatusCode, 401);
  assert.equal(err.isWSFailure, false, 'must be an API refusal (error frame), not a transport failure');
});

test('an expired token is rejected with code 40', async () => {
  const token = eddy.server.createToken('bob', Math.floor(Date.now() / 1000) - 60);
  const err = await connectFailure(eddy.newUserClient('bob'), { id: 'bob' }, token);
  assert.equal(err.code, 40, `expected code 40, got ${JSON.stringify(err)}`);
  assert.equal(err.StatusCode, 401);
  assert.equal(err.isWSFailure, false);
});

test('an unknown api_key is rejected with code 2 (REST and WebSocket)', async () => {
  const wrongKey = eddy.newServerClient('not-the-api-key');
  const res = await expectApiError(() => wrongKey.queryUsers({ id: 'alice' }));
  assert.equal(res.status, 401);
  assert.equal(res.code, 2);
  assert.equal(res.body.code, 2);
  assert.equal(res.body.StatusCode, 401);
  assert.equal(typeof res.body.message, 'string');
  assert.equal(typeof res.body.duration, 'string');
  assert.deepEqual(res.body.details, []);
  assert.match(res.error.message, /StreamChat error code 2/);

  const wsClient = new StreamChat('not-the-api-key', {
    baseURL: eddy.url,
    allowServerSideConnect: true,
  });
  const err = await connectFailure(wsClient, { id: 'bob' }, eddy.token('bob'));
  assert.equal(err.code, 2, `expected code 2, got ${JSON.stringify(err)}`);
  assert.equal(err.StatusCode, 401);
});

test('a message longer than max_message_length is refused', async () => {
  const { client: alice } = await eddy.connect({ id: 'alice' });
  const channel = alice.channel('messaging', uniqueId('long'), { members: ['alice'] });
  await channel.watch();
  assert.equal(channel.getConfig()?.max_message_length, 5000);

  const atLimit = await channel.sendMessage({ text: 'a'.repeat(5000) });
  assert.equal(atLimit.message.text.length, 5000);

  const res = await expectApiError(() => channel.sendMessage({ text: 'a'.repeat(5001) }));
  assert.equal(res.status, 400);
  assert.equal(res.body.StatusCode, 400);
  // The brief for this suite asks for code 4 (InputError); the shared API spec
  // (chat-api.md 1.5 and 3.5) names code 20 (MessageTooLongError) for this
  // case. Either is an HTTP 400 the SDKs handle the same way.
  assert.ok([4, 20].includes(res.code), `expected code 4 or 20, got ${res.code}: ${JSON.stringify(res.body)}`);

  const state = await channel.query({ messages: { limit: 10 } });
  assert.deepEqual(state.messages.map((m) => m.text.length), [5000], 'the refused message must not be stored');
});
