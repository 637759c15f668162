/** Entry of the classic-script bundle (incoming.js), which defines the global `incoming`. */
import { rememberLoaderUrl } from './server_address.js';

export * from './public_api.js';

// Uploads go by default to the server this script was loaded from. The
// browser tells which script that is only while it first runs, so now.
const script = /** @type {HTMLScriptElement | null | undefined} */ (globalThis.document?.currentScript);
rememberLoaderUrl(script?.src);
