/** Everything the library offers; both bundles export exactly this. */
export { set_server_hostname } from './server_address.js';
export { Uploader } from './uploader.js';
export { upload, UploadError } from './upload_promise.js';
export { findResumable } from './resume_store.js';
