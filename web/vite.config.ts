import { defineConfig } from 'vite';

// The build goes straight into the Go package that embeds it. File names
// carry a content hash (the agent serves assets/ as immutable), and the
// output depends only on the sources and package-lock.json, so CI can check
// the committed build is current with git diff.
export default defineConfig({
  base: '/',
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  resolve: {
    alias: {
      react: 'preact/compat',
      'react-dom': 'preact/compat',
    },
  },
  build: {
    outDir: '../internal/web/dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 400,
    reportCompressedSize: false,
  },
  server: {
    // npm run dev: the UI with hot reload against a running agent.
    proxy: {
      '/api': process.env.KSCOPE_AGENT ?? 'http://127.0.0.1:9464',
      '/metrics': process.env.KSCOPE_AGENT ?? 'http://127.0.0.1:9464',
    },
  },
});
