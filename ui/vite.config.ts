import { defineConfig } from "vite";

// The app is served from the Tauri binary: no CDN, every asset bundled.
export default defineConfig({
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  // pdf.js (about 0.5 MB, plus its worker) is its own chunk, loaded only when a PDF is shown
  build: { target: "safari15", outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1500 },
  test: { include: ["src/**/*.test.ts"] },
});
