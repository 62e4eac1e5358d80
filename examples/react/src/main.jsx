// Mounts the example chat app (stream-chat-react against an eddy server) into #root.
import { createRoot } from 'react-dom/client';
import 'stream-chat-react/dist/css/index.css';
import './app.css';
import { App } from './App.jsx';

createRoot(document.getElementById('root')).render(<App />);
