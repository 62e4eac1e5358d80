// The example app: reads ?url=&key=&user=&token= and shows Stream's React UI kit connected to eddy.
import { useEffect, useState } from 'react';
import { StreamChat } from 'stream-chat';
import {
  Channel,
  ChannelHeader,
  ChannelList,
  Chat,
  MessageComposer,
  MessageList,
  Thread,
  Window,
} from 'stream-chat-react';

function readParams() {
  const q = new URLSearchParams(window.location.search);
  return {
    url: (q.get('url') || '').replace(/\/+$/, ''),
    key: q.get('key') || '',
    user: q.get('user') || '',
    token: q.get('token') || '',
  };
}

export function App() {
  const [params] = useState(readParams);
  const [client, setClient] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    const { url, key, user, token } = params;
    if (!url || !key || !user || !token) return undefined;
    // A fresh instance (not the getInstance singleton) so that React's strict/dev double
    // effects never share a half-closed connection.
    const chat = new StreamChat(key, { baseURL: url });
    let cancelled = false;
    chat
      .connectUser({ id: user }, token)
      .then(() => {
        if (cancelled) return;
        // Exposed for tests and for poking at from the devtools console.
        window.chatClient = chat;
        setClient(chat);
      })
      .catch((err) => {
        if (!cancelled) setError(String(err && err.message ? err.message : err));
      });
    return () => {
      cancelled = true;
      setClient(null);
      chat.disconnectUser().catch(() => {});
    };
  }, [params]);

  if (!params.url || !params.key || !params.user || !params.token) {
    return (
      <p className="eddy-status">
        Open this page with <code>?url=EDDY_URL&amp;key=API_KEY&amp;user=USER_ID&amp;token=USER_TOKEN</code>.
      </p>
    );
  }
  if (error) return <p className="eddy-status" data-testid="connect-error">Could not connect: {error}</p>;
  if (!client) return <p className="eddy-status">Connecting to {params.url}…</p>;

  const filters = { type: 'messaging', members: { $in: [params.user] } };
  const sort = { last_message_at: -1 };
  const options = { state: true, watch: true, presence: true, limit: 10 };

  return (
    <Chat client={client}>
      <div className="eddy-app">
        <ChannelList filters={filters} sort={sort} options={options} />
        <Channel>
          <Window>
            <ChannelHeader />
            <MessageList />
            <MessageComposer />
          </Window>
          <Thread />
        </Channel>
      </div>
    </Chat>
  );
}
