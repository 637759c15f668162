/** Entry of the ES module bundle (incoming.mjs). */
import { rememberLoaderUrl } from './server_address.js';

export * from './public_api.js';

// Uploads go by default to the server this module was loaded from.
rememberLoaderUrl(import.meta.url);
