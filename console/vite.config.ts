// The console is built into the gateway crate, which embeds it at compile time. File names are
// fixed (no content hashes) so the committed output only changes when the sources do, and
// `scripts/check-console.sh` can compare a fresh build with it byte for byte.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    outDir: "../crates/vigil-gateway/console-dist",
    emptyOutDir: true,
    sourcemap: false,
    // Nothing inlined as data: URLs; everything is a file served under the CSP's 'self'.
    assetsInlineLimit: 0,
    // No <link rel=modulepreload> polyfill: the entry and the player's chunk, nothing else.
    modulePreload: false,
    cssCodeSplit: false,
    reportCompressedSize: false,
    rollupOptions: {
      output: {
        entryFileNames: "assets/console.js",
        // The asciinema player (loaded by the session page when there are recordings).
        chunkFileNames: "assets/player.js",
        assetFileNames: "assets/console[extname]",
      },
    },
  },
});
