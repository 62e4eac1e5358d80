// Vite build config for the eddy + stream-chat-react example app.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// With EDDY_URL set, `vite` and `vite preview` also forward /eddy/... (HTTP and WebSocket) to eddy,
// so the page can use ?url=<this origin>/eddy and never needs CORS from eddy.
const eddy = process.env.EDDY_URL;
const proxy = eddy
  ? { '/eddy': { target: eddy, changeOrigin: true, ws: true, rewrite: (p) => p.replace(/^\/eddy/, '') } }
  : undefined;

export default defineConfig({
  plugins: [react()],
  // Relative asset paths so dist/ can be served from any path or static server.
  base: './',
  build: { chunkSizeWarningLimit: 4000, sourcemap: false },
  server: { proxy },
  preview: { proxy },
});
