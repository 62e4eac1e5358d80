// End-to-end test: two users (alice, bob) chat through Stream's React UI kit in headless Chromium against eddy.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { StreamChat } from 'stream-chat';
import {
  ARTIFACTS,
  CHROMIUM,
  CHROMIUM_ARGS,
  eddyAllowsCors,
  serveStatic,
  startEddy,
} from '../support.js';

const WAIT_MS = 15_000; // upper bound for any single UI expectation
const CHANNEL_ID = 'e2e-room';
const CHANNEL_NAME = 'E2E room';

describe('stream-chat-react against eddy', () => {
  const s = {
    eddy: null,
    web: null,
    browser: null,
    server: null,
    cors: false,
    pages: {}, // user id -> { page, errors: [] }
  };

  before(async () => {
    s.eddy = await startEddy();
    // Find out whether the browser may call eddy directly from the app's origin.
    const probe = await serveStatic();
    s.cors = await eddyAllowsCors(s.eddy.url, probe.url);
    await probe.close();
    // Without CORS headers from eddy, the app reaches eddy through its own origin (/eddy/...).
    s.web = await serveStatic(undefined, { proxyTo: s.cors ? null : s.eddy.url });
    const appBaseUrl = s.cors ? s.eddy.url : `${s.web.url}/eddy`;

    s.server = new StreamChat(s.eddy.apiKey, s.eddy.apiSecret, { baseURL: s.eddy.url, timeout: 10_000 });
    await s.server.upsertUsers([
      { id: 'alice', name: 'Alice' },
      { id: 'bob', name: 'Bob' },
    ]);
    await s.server
      .channel('messaging', CHANNEL_ID, { name: CHANNEL_NAME, members: ['alice', 'bob'], created_by_id: 'alice' })
      .create();

    s.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    for (const user of ['alice', 'bob']) {
      const context = await s.browser.newContext({ viewport: { width: 1200, height: 800 } });
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT_MS);
      const entry = { page, errors: [] };
      page.on('pageerror', (err) => entry.errors.push(`pageerror: ${err.message}`));
      page.on('console', (msg) => {
        if (msg.type() === 'error') entry.errors.push(`console: ${msg.text()}`);
      });
      const query = new URLSearchParams({
        url: appBaseUrl,
        key: s.eddy.apiKey,
        user,
        token: s.server.createToken(user),
      });
      await page.goto(`${s.web.url}/?${query}`);
      s.pages[user] = entry;
    }
  });

  after(async () => {
    await screenshots('final');
    await s.browser?.close().catch(() => {});
    await s.web?.close().catch(() => {});
    const crashed = s.eddy?.exited();
    await s.eddy?.stop();
    if (crashed) throw new Error(`eddy exited during the test: ${JSON.stringify(crashed)}`);
  });

  async function screenshots(label) {
    mkdirSync(ARTIFACTS, { recursive: true });
    for (const [user, { page }] of Object.entries(s.pages)) {
      await page
        .screenshot({ path: path.join(ARTIFACTS, `${label}-${user}.png`), fullPage: true })
        .catch(() => {});
    }
  }

  // Runs one step; on failure saves screenshots and adds the pages' errors to the message.
  function step(name, fn) {
    test(name, async (t) => {
      try {
        await fn(t);
      } catch (err) {
        const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 60);
        await screenshots(`failed-${slug}`);
        const errors = Object.entries(s.pages)
          .map(([u, { errors: e }]) => (e.length ? `${u}'s page errors:\n  ${e.slice(-10).join('\n  ')}` : ''))
          .filter(Boolean)
          .join('\n');
        if (errors) err.message += `\n${errors}`;
        throw err;
      }
    });
  }

  const page = (user) => s.pages[user].page;
  // The main channel's message list (not the thread's).
  const mainList = (user) => page(user).locator('.str-chat__main-panel .str-chat__message-list');
  const messageIn = (scope, text) => scope.locator('.str-chat__message', { hasText: text }).first();

  async function send(user, scope, text) {
    const box = scope.locator('textarea[data-testid="message-input"]');
    await box.click();
    await box.pressSequentially(text, { delay: 5 });
    await scope.locator('[data-testid="send-button"]').click();
  }

  test('eddy answers CORS preflight requests (browser apps served from another origin)', (t) => {
    if (!s.cors) {
      t.skip(
        'eddy sends no Access-Control-Allow-* headers (OPTIONS preflight is not answered), so a web app on ' +
          'another origin cannot call it; this run reaches eddy through the static server\'s same-origin /eddy proxy',
      );
      return;
    }
    assert.ok(s.cors);
  });

  step('both users see the channel in their channel list', async () => {
    for (const user of ['alice', 'bob']) {
      const item = page(user).locator('[data-testid="channel-list-item-button"]', { hasText: CHANNEL_NAME });
      await item.waitFor();
      // ChannelList makes the first channel active, so its header and composer are shown too.
      await page(user).locator('.str-chat__channel-header', { hasText: CHANNEL_NAME }).waitFor();
      await page(user).locator('.str-chat__main-panel textarea[data-testid="message-input"]').waitFor();
    }
  });

  step('alice sends a message and bob sees it without reloading', async () => {
    await send('alice', page('alice').locator('.str-chat__main-panel'), 'Hello Bob from the browser');
    await messageIn(mainList('alice'), 'Hello Bob from the browser').waitFor();
    await messageIn(mainList('bob'), 'Hello Bob from the browser').waitFor();
    // The channel list preview follows the new message too.
    await page('bob')
      .locator('[data-testid="channel-list-item-button"]', { hasText: 'Hello Bob from the browser' })
      .waitFor();
  });

  step('bob typing shows a typing indicator on alice\'s page', async () => {
    const box = page('bob').locator('.str-chat__main-panel textarea[data-testid="message-input"]');
    await box.click();
    await box.pressSequentially('I am typi', { delay: 20 });
    await page('alice').locator('[data-testid="typing-indicator"].str-chat__typing-indicator--typing').waitFor();
    // The event itself reached alice's client, from bob.
    const typing = await page('alice').evaluate(
      (cid) => Object.keys(window.chatClient.activeChannels[cid].state.typing),
      `messaging:${CHANNEL_ID}`,
    );
    assert.deepEqual(typing, ['bob']);
    await box.fill('');
  });

  step('bob reacts to alice\'s message and alice sees the reaction', async () => {
    const bobsCopy = messageIn(mainList('bob'), 'Hello Bob from the browser');
    await bobsCopy.hover();
    await bobsCopy.locator('[data-testid="message-reaction-action"]').click();
    const choice = page('bob').locator('[data-testid="select-reaction-button"]').first();
    const reactionType = await choice.getAttribute('data-text');
    assert.ok(reactionType, 'the reaction selector offers a reaction type');
    await choice.click();
    const alicesCopy = messageIn(mainList('alice'), 'Hello Bob from the browser');
    await alicesCopy.locator('[data-testid="message-reactions-list-item"]').first().waitFor();
    const own = await page('alice').evaluate(
      (cid) => window.chatClient.activeChannels[cid].state.messages.at(-1).reaction_groups,
      `messaging:${CHANNEL_ID}`,
    );
    assert.equal(own?.[reactionType]?.count, 1, `reaction_groups on alice's copy: ${JSON.stringify(own)}`);
  });

  step('alice replies in a thread and bob sees the reply count and the reply', async () => {
    const alicesCopy = messageIn(mainList('alice'), 'Hello Bob from the browser');
    await alicesCopy.hover();
    await alicesCopy.locator('[data-testid="thread-action"]').first().click();
    const thread = page('alice').locator('.str-chat__thread');
    await thread.locator('textarea[data-testid="message-input"]').waitFor();
    await send('alice', thread, 'A reply in the thread');
    await messageIn(thread, 'A reply in the thread').waitFor();

    const counter = messageIn(mainList('bob'), 'Hello Bob from the browser').locator('[data-testid="replies-count-button"]');
    await counter.waitFor();
    assert.match(await counter.innerText(), /1/);
    await counter.click();
    await messageIn(page('bob').locator('.str-chat__thread'), 'A reply in the thread').waitFor();
  });

  step('after bob reads the channel, alice\'s message shows as read', async () => {
    // Bob has had the channel open; make sure his kit has sent its read state (mark read is what the
    // Channel component does when it is focused and has unread messages).
    const cid = `messaging:${CHANNEL_ID}`;
    // The kit marks a channel read when its page is in front; two pages share one browser.
    await page('bob').bringToFront();
    const deadline = Date.now() + WAIT_MS;
    let read;
    for (;;) {
      read = await page('alice').evaluate(
        (c) => window.chatClient.activeChannels[c].state.read.bob?.last_read_message_id ?? null,
        cid,
      );
      const last = await page('alice').evaluate((c) => window.chatClient.activeChannels[c].state.messages.at(-1).id, cid);
      if (read === last || Date.now() > deadline) break;
      await page('alice').waitForTimeout(200);
    }
    assert.ok(read, 'alice\'s client has bob\'s read state with last_read_message_id');
    const status = messageIn(mainList('alice'), 'Hello Bob from the browser').locator(
      '[data-testid="message-status-read-by"]',
    );
    await status.waitFor();
  });

  step('neither page threw an uncaught error', async () => {
    for (const [user, { errors }] of Object.entries(s.pages)) {
      const uncaught = errors.filter((e) => e.startsWith('pageerror:'));
      assert.deepEqual(uncaught, [], `${user}'s page`);
      if (process.env.EDDY_DEBUG && errors.length) console.error(`${user}'s console errors:\n${errors.join('\n')}`);
    }
  });
});
