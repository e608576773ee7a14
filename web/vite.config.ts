import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// One bundle, no lazy chunks: every page's first load is index.html, one
// script and one stylesheet, which the `web` component serves with
// `Cache-Control: immutable` (their names carry a content hash).
export default defineConfig({
  plugins: [svelte()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0, // no data: URLs, which the CSP would have to allow
    modulePreload: { polyfill: false }, // the polyfill is an inline script
    rolldownOptions: { output: { codeSplitting: false } },
  },
  server: {
    // `npm run dev` against an app started by scripts/up.sh.
    proxy: { "/api": process.env.SPINTEMP_API ?? "http://127.0.0.1:3000" },
  },
});
