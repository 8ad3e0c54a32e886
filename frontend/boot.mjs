// Loads the app's WebAssembly (kept out of index.html: the Content-Security-Policy runs no
// inline script).
import init from "/pkg/corral_frontend.js";
init({ module_or_path: "/pkg/corral_frontend_bg.wasm" });
