// Builds web/app into the directory CMake embeds (web/CMakeLists.txt passes
// --outDir). File names carry no hash: the server answers every asset with
// an ETag and `Cache-Control: no-cache`, so the browser revalidates cheaply.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  // The sharedb client is CommonJS written for Node and bundlers: it needs
  // `events` (the npm package) and util.inherits (a two-line shim).
  resolve: {
    alias: {
      events: "events/events.js",
      util: fileURLToPath(new URL("src/shims/util.js", import.meta.url)),
    },
  },
  build: {
    outDir: "../../build/web-app-dev",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    modulePreload: { polyfill: false },
    rollupOptions: {
      output: {
        entryFileNames: "assets/[name].js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]",
      },
    },
  },
  server: { proxy: { "/api": "http://127.0.0.1:8080", "/sharedb": { target: "ws://127.0.0.1:8080", ws: true } } },
});
