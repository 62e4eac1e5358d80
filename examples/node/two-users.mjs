// Two users chatting through eddy with Stream's official JS SDK; only the base URL differs from Stream.
// Run eddy, then: EDDY_URL=... EDDY_API_KEY=... EDDY_API_SECRET=... node two-users.mjs
import { StreamChat } from 'stream-chat';

const { EDDY_URL: baseURL, EDDY_API_KEY: apiKey, EDDY_API_SECRET: apiSecret } = process.env;
if (!baseURL || !apiKey || !apiSecret) {
  console.error('set EDDY_URL, EDDY_API_KEY and EDDY_API_SECRET (eddy serve prints them)');
  process.exit(2);
}

const server = new StreamChat(apiKey, apiSecret, { baseURL });
await server.upsertUsers([{ id: 'alice', name: 'Alice' }, { id: 'bob', name: 'Bob' }]);

const connect = async (id) => {
  const client = new StreamChat(apiKey, { baseURL, allowServerSideConnect: true });
  await client.connectUser({ id }, server.createToken(id));
  return client;
};
const alice = await connect('alice');
const bob = await connect('bob');

const aliceChannel = alice.channel('messaging', 'alice-and-bob', { members: ['alice', 'bob'] });
await aliceChannel.watch();
const bobChannel = bob.channel('messaging', 'alice-and-bob');
await bobChannel.watch();

const received = new Promise((resolve) => bobChannel.on('message.new', (event) => resolve(event)));
const typing = new Promise((resolve) => bobChannel.on('typing.start', (event) => resolve(event)));
await aliceChannel.keystroke();
console.log(`bob sees ${(await typing).user.name} typing`);
await aliceChannel.sendMessage({ text: 'Hi Bob!' });
const event = await received;
console.log(`bob received "${event.message.text}" from ${event.user.name}; unread: ${event.total_unread_count}`);

const reacted = new Promise((resolve) => aliceChannel.on('reaction.new', (e) => resolve(e)));
await bobChannel.sendReaction(event.message.id, { type: 'love' });
console.log(`alice sees a ${(await reacted).reaction.type} reaction`);

const read = new Promise((resolve) => aliceChannel.on('message.read', (e) => resolve(e)));
await bobChannel.markRead();
console.log(`alice sees ${(await read).user.name} read the channel`);

await Promise.all([alice.disconnectUser(), bob.disconnectUser()]);
process.exit(0);
