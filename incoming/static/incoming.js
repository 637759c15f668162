/* Incoming!! browser library 0.1.0. Built from jslib/src with `npm run build`; do not edit. */
var incoming = (() => {
  var __defProp = Object.defineProperty;
  var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
  var __getOwnPropNames = Object.getOwnPropertyNames;
  var __hasOwnProp = Object.prototype.hasOwnProperty;
  var __export = (target, all) => {
    for (var name in all)
      __defProp(target, name, { get: all[name], enumerable: true });
  };
  var __copyProps = (to, from, except, desc) => {
    if (from && typeof from === "object" || typeof from === "function") {
      for (let key of __getOwnPropNames(from))
        if (!__hasOwnProp.call(to, key) && key !== except)
          __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
    }
    return to;
  };
  var __toCommonJS = (mod) => __copyProps(__defProp({}, "__esModule", { value: true }), mod);

  // src/script_entry.js
  var script_entry_exports = {};
  __export(script_entry_exports, {
    UploadError: () => UploadError,
    Uploader: () => Uploader,
    findResumable: () => findResumable,
    set_server_hostname: () => set_server_hostname,
    upload: () => upload
  });

  // src/protocol.js
  var SOCKET_PATH = "/incoming/0.1/frontend/upload_ws";
  var TUS_PATH = "/incoming/0.1/tus/";
  var TICKET_CLOSED = 4;
  var RETRYABLE_ERRORS = /* @__PURE__ */ new Set([
    10,
    // idle_timeout
    12,
    // storage_failed
    13,
    // shutting_down
    21
    // storage_full: the upload completes once the server has space again
  ]);
  var DIGEST_MISMATCH = 20;
  var ERROR_CLOSE_BASE = 4e3;
  var LOCAL_ERROR = 0;
  var MAX_TEXT_LENGTH = 1024;
  var STATES_AFTER_UPLOAD = /* @__PURE__ */ new Set([
    "stored",
    "handing_over",
    "waiting_for_backend",
    "finished"
  ]);

  // src/server_address.js
  var configuredHost = null;
  var loaderUrl = null;
  function set_server_hostname(host) {
    if (typeof host !== "string" || host === "") {
      throw new TypeError('incoming.set_server_hostname: host must be a non-empty string such as "uploads.example.com"');
    }
    configuredHost = host;
  }
  function rememberLoaderUrl(url) {
    loaderUrl = url || null;
  }
  function uploadSocketUrl() {
    return socketUrlFor({ configuredHost, loaderUrl, page: globalThis.location });
  }
  function socketUrlFor({ configuredHost: configuredHost2, loaderUrl: loaderUrl2, page }) {
    const loader = httpUrl(loaderUrl2);
    const host = configuredHost2 || loader?.host || page?.host;
    if (!host) {
      throw new Error("no upload server known: call incoming.set_server_hostname(host) first");
    }
    const secure = loader?.protocol === "https:" || page?.protocol === "https:";
    return `${secure ? "wss" : "ws"}://${host}${SOCKET_PATH}`;
  }
  function httpUrl(url) {
    if (!url) return null;
    try {
      const parsed = new URL(url);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed : null;
    } catch {
      return null;
    }
  }

  // src/engine.js
  function isChromium(navigator) {
    const brands = navigator?.userAgentData?.brands;
    if (Array.isArray(brands) && brands.length > 0) return brands.some(({ brand }) => /Chromium/.test(brand));
    return /\b(Headless)?Chrome\/\d/.test(navigator?.userAgent ?? "");
  }

  // node_modules/@noble/hashes/_u64.js
  var fromNumH = (n) => n / 2 ** 32 | 0;
  var fromNumL = (n) => n >>> 0;
  function setU64FromNum(view, byteOffset, n, isLE) {
    const h = fromNumH(n);
    const l = fromNumL(n);
    view.setUint32(byteOffset, isLE ? l : h, isLE);
    view.setUint32(byteOffset + 4, isLE ? h : l, isLE);
  }

  // node_modules/@noble/hashes/utils.js
  function isBytes(a) {
    return a instanceof Uint8Array || ArrayBuffer.isView(a) && a.constructor.name === "Uint8Array" && "BYTES_PER_ELEMENT" in a && a.BYTES_PER_ELEMENT === 1;
  }
  var atitle = (title) => title ? `"${title}" ` : "";
  function anumber(n, title = "") {
    if (typeof n !== "number")
      throw new TypeError(atitle(title) + "expected number, got " + typeof n);
    if (!Number.isSafeInteger(n) || n < 0)
      throw new RangeError(atitle(title) + "expected integer >= 0, got " + n);
    return n;
  }
  function abytes(value, length, title = "") {
    if (isBytes(value) && (length === void 0 || value.length === length))
      return value;
    if (length !== void 0)
      anumber(length, "length");
    const bytes = isBytes(value);
    const ofLen = length !== void 0 ? ` of length ${length}` : "";
    const got = bytes ? `length=${value.length}` : `type=${typeof value}`;
    const message = atitle(title) + "expected Uint8Array" + ofLen + ", got " + got;
    if (!bytes)
      throw new TypeError(message);
    throw new RangeError(message);
  }
  var aobject = (value, label) => {
    if (value === null || typeof value !== "object" || Array.isArray(value))
      throw new TypeError((label === "object" ? "" : `"${label}" `) + "expected object, got type=" + typeof value);
  };
  var aopts = (value, label) => {
    aobject(value, label);
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null)
      throw new TypeError(`"${label}" expected plain object`);
    if (Object.hasOwn(value, "__proto__"))
      throw new TypeError(`"${label}.__proto__" is not allowed`);
  };
  function aexists(instance, checkFinished = true) {
    if (instance.destroyed)
      throw new Error("hash was destroyed");
    if (checkFinished && instance.finished)
      throw new Error("digest() was already called");
  }
  function aoutput(out, instance) {
    abytes(out, void 0, "output");
    const min = instance.outputLen;
    if (!(out.length >= min)) {
      throw new RangeError('"output" expected length >= ' + min);
    }
  }
  function clean(...arrays) {
    for (let i = 0; i < arrays.length; i++) {
      arrays[i].fill(0);
    }
  }
  function createView(arr) {
    return new DataView(arr.buffer, arr.byteOffset, arr.byteLength);
  }
  function rotr(word, shift) {
    return word << 32 - shift | word >>> shift;
  }
  var hasHexBuiltin = /* @__PURE__ */ (() => (
    // @ts-ignore
    typeof Uint8Array.from([]).toHex === "function" && typeof Uint8Array.fromHex === "function"
  ))();
  var hexes = /* @__PURE__ */ Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
  function bytesToHex(bytes) {
    abytes(bytes);
    if (hasHexBuiltin)
      return bytes.toHex();
    let hex = "";
    for (let i = 0; i < bytes.length; i++) {
      hex += hexes[bytes[i]];
    }
    return hex;
  }
  function checkOpts(defaults, opts, title = "opts") {
    aopts(defaults, "defaults");
    if (opts !== void 0)
      aopts(opts, title);
    const merged = Object.assign(/* @__PURE__ */ Object.create(null), defaults, opts);
    return merged;
  }
  function createHasher(hashCons, info = {}) {
    if (typeof hashCons !== "function")
      throw new TypeError('"hashCons" expected function, got type=' + typeof hashCons);
    info = checkOpts({}, info, "info");
    const hashC = (msg, opts) => hashCons(opts).update(msg).digest();
    const tmp = hashCons(void 0);
    hashC.outputLen = tmp.outputLen;
    hashC.blockLen = tmp.blockLen;
    hashC.canXOF = tmp.canXOF;
    hashC.create = (opts) => hashCons(opts);
    Object.assign(hashC, info);
    return Object.freeze(hashC);
  }
  var oidNist = (suffix) => ({
    // Current NIST hashAlgs suffixes used here fit in one DER subidentifier octet.
    // Larger suffix values would need base-128 OID encoding and a different length byte.
    oid: Uint8Array.from([6, 9, 96, 134, 72, 1, 101, 3, 4, 2, suffix])
  });

  // node_modules/@noble/hashes/_md.js
  function Chi(a, b, c) {
    return a & b ^ ~a & c;
  }
  function Maj(a, b, c) {
    return a & b ^ a & c ^ b & c;
  }
  var HashMD = class {
    blockLen;
    outputLen;
    canXOF = false;
    padOffset;
    isLE;
    // For partial updates less than block size
    buffer;
    view;
    finished = false;
    length = 0;
    pos = 0;
    destroyed = false;
    constructor(blockLen, outputLen, padOffset, isLE) {
      this.blockLen = blockLen;
      this.outputLen = outputLen;
      this.padOffset = padOffset;
      this.isLE = isLE;
      this.buffer = new Uint8Array(blockLen);
      this.view = createView(this.buffer);
    }
    update(data) {
      aexists(this);
      abytes(data);
      const { view, buffer, blockLen } = this;
      const len = data.length;
      let processed = false;
      for (let pos = 0; pos < len; ) {
        const take = Math.min(blockLen - this.pos, len - pos);
        if (take === blockLen) {
          const dataView = createView(data);
          for (; blockLen <= len - pos; pos += blockLen)
            this.process(dataView, pos);
          processed = true;
          continue;
        }
        buffer.set(pos === 0 && take === len ? data : data.subarray(pos, pos + take), this.pos);
        this.pos += take;
        pos += take;
        if (this.pos === blockLen) {
          this.process(view, 0);
          this.pos = 0;
          processed = true;
        }
      }
      this.length += data.length;
      if (processed)
        this.roundClean();
      return this;
    }
    digestInto(out) {
      aexists(this);
      aoutput(out, this);
      this.finished = true;
      const { buffer, view, blockLen, isLE } = this;
      let { pos } = this;
      buffer[pos++] = 128;
      buffer.fill(0, pos);
      if (this.padOffset > blockLen - pos) {
        this.process(view, 0);
        buffer.fill(0);
      }
      setU64FromNum(view, blockLen - 8, this.length * 8, isLE);
      this.process(view, 0);
      this.roundClean();
      const oview = out === buffer ? view : createView(out);
      const len = this.outputLen;
      const outLen = len / 4;
      const state = this.get();
      if (len % 4 || outLen > state.length)
        throw new Error("invalid outputLen");
      for (let i = 0; i < outLen; i++)
        oview.setUint32(4 * i, state[i], isLE);
    }
    digest() {
      const { buffer, outputLen } = this;
      this.digestInto(buffer);
      const res = buffer.slice(0, outputLen);
      this.destroy();
      return res;
    }
    _cloneIntoMeta(to) {
      const { buffer, length, finished, destroyed, pos } = this;
      to.destroyed = destroyed;
      to.finished = finished;
      to.length = length;
      to.pos = pos;
      if (pos)
        to.buffer.set(buffer);
      return to;
    }
    clone() {
      return this._cloneInto();
    }
  };
  var SHA256_IV = /* @__PURE__ */ Uint32Array.from([
    1779033703,
    3144134277,
    1013904242,
    2773480762,
    1359893119,
    2600822924,
    528734635,
    1541459225
  ]);

  // node_modules/@noble/hashes/sha2.js
  var SHA256_K = /* @__PURE__ */ Uint32Array.from([
    1116352408,
    1899447441,
    3049323471,
    3921009573,
    961987163,
    1508970993,
    2453635748,
    2870763221,
    3624381080,
    310598401,
    607225278,
    1426881987,
    1925078388,
    2162078206,
    2614888103,
    3248222580,
    3835390401,
    4022224774,
    264347078,
    604807628,
    770255983,
    1249150122,
    1555081692,
    1996064986,
    2554220882,
    2821834349,
    2952996808,
    3210313671,
    3336571891,
    3584528711,
    113926993,
    338241895,
    666307205,
    773529912,
    1294757372,
    1396182291,
    1695183700,
    1986661051,
    2177026350,
    2456956037,
    2730485921,
    2820302411,
    3259730800,
    3345764771,
    3516065817,
    3600352804,
    4094571909,
    275423344,
    430227734,
    506948616,
    659060556,
    883997877,
    958139571,
    1322822218,
    1537002063,
    1747873779,
    1955562222,
    2024104815,
    2227730452,
    2361852424,
    2428436474,
    2756734187,
    3204031479,
    3329325298
  ]);
  var SHA256_W = /* @__PURE__ */ new Uint32Array(64);
  var SHA2_32B = class extends HashMD {
    // We cannot use array here since array allows indexing by variable
    // which means optimizer/compiler cannot use registers.
    // Numeric initializers matter: starting the fields as `undefined` changes
    // V8's field representation and makes sha256 3x slower (measured).
    A = 0;
    B = 0;
    C = 0;
    D = 0;
    E = 0;
    F = 0;
    G = 0;
    H = 0;
    constructor(outputLen, IV) {
      super(64, outputLen, 8, false);
      this.A = IV[0] | 0;
      this.B = IV[1] | 0;
      this.C = IV[2] | 0;
      this.D = IV[3] | 0;
      this.E = IV[4] | 0;
      this.F = IV[5] | 0;
      this.G = IV[6] | 0;
      this.H = IV[7] | 0;
    }
    get() {
      const { A, B, C, D, E, F, G, H } = this;
      return [A, B, C, D, E, F, G, H];
    }
    // prettier-ignore
    set(A, B, C, D, E, F, G, H) {
      this.A = A | 0;
      this.B = B | 0;
      this.C = C | 0;
      this.D = D | 0;
      this.E = E | 0;
      this.F = F | 0;
      this.G = G | 0;
      this.H = H | 0;
    }
    _cloneInto(to) {
      (to ||= new this.constructor()).set(...this.get());
      return this._cloneIntoMeta(to);
    }
    process(view, offset) {
      for (let i = 0; i < 16; i++, offset += 4)
        SHA256_W[i] = view.getUint32(offset, false);
      for (let i = 16; i < 64; i++) {
        const W15 = SHA256_W[i - 15];
        const W2 = SHA256_W[i - 2];
        const s0 = rotr(W15, 7) ^ rotr(W15, 18) ^ W15 >>> 3;
        const s1 = rotr(W2, 17) ^ rotr(W2, 19) ^ W2 >>> 10;
        SHA256_W[i] = s1 + SHA256_W[i - 7] + s0 + SHA256_W[i - 16] | 0;
      }
      let { A, B, C, D, E, F, G, H } = this;
      for (let i = 0; i < 64; i++) {
        const sigma1 = rotr(E, 6) ^ rotr(E, 11) ^ rotr(E, 25);
        const T1 = H + sigma1 + Chi(E, F, G) + SHA256_K[i] + SHA256_W[i] | 0;
        const sigma0 = rotr(A, 2) ^ rotr(A, 13) ^ rotr(A, 22);
        const T2 = sigma0 + Maj(A, B, C) | 0;
        H = G;
        G = F;
        F = E;
        E = D + T1 | 0;
        D = C;
        C = B;
        B = A;
        A = T1 + T2 | 0;
      }
      A = A + this.A | 0;
      B = B + this.B | 0;
      C = C + this.C | 0;
      D = D + this.D | 0;
      E = E + this.E | 0;
      F = F + this.F | 0;
      G = G + this.G | 0;
      H = H + this.H | 0;
      this.set(A, B, C, D, E, F, G, H);
    }
    roundClean() {
      clean(SHA256_W);
    }
    destroy() {
      this.destroyed = true;
      this.set(0, 0, 0, 0, 0, 0, 0, 0);
      clean(this.buffer);
    }
  };
  var _SHA256 = class extends SHA2_32B {
    constructor() {
      super(32, SHA256_IV);
    }
  };
  var sha256 = /* @__PURE__ */ createHasher(
    () => new _SHA256(),
    /* @__PURE__ */ oidNist(1)
  );

  // node_modules/hash-wasm/dist/index.esm.js
  function __awaiter(thisArg, _arguments, P, generator) {
    function adopt(value) {
      return value instanceof P ? value : new P(function(resolve) {
        resolve(value);
      });
    }
    return new (P || (P = Promise))(function(resolve, reject) {
      function fulfilled(value) {
        try {
          step(generator.next(value));
        } catch (e) {
          reject(e);
        }
      }
      function rejected(value) {
        try {
          step(generator["throw"](value));
        } catch (e) {
          reject(e);
        }
      }
      function step(result) {
        result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected);
      }
      step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
  }
  var Mutex = class {
    constructor() {
      this.mutex = Promise.resolve();
    }
    lock() {
      let begin = () => {
      };
      this.mutex = this.mutex.then(() => new Promise(begin));
      return new Promise((res) => {
        begin = res;
      });
    }
    dispatch(fn) {
      return __awaiter(this, void 0, void 0, function* () {
        const unlock = yield this.lock();
        try {
          return yield Promise.resolve(fn());
        } finally {
          unlock();
        }
      });
    }
  };
  var _a;
  function getGlobal() {
    if (typeof globalThis !== "undefined")
      return globalThis;
    if (typeof self !== "undefined")
      return self;
    if (typeof window !== "undefined")
      return window;
    return global;
  }
  var globalObject = getGlobal();
  var nodeBuffer = (_a = globalObject.Buffer) !== null && _a !== void 0 ? _a : null;
  var textEncoder = globalObject.TextEncoder ? new globalObject.TextEncoder() : null;
  function hexCharCodesToInt(a, b) {
    return (a & 15) + (a >> 6 | a >> 3 & 8) << 4 | (b & 15) + (b >> 6 | b >> 3 & 8);
  }
  function writeHexToUInt8(buf, str) {
    const size = str.length >> 1;
    for (let i = 0; i < size; i++) {
      const index = i << 1;
      buf[i] = hexCharCodesToInt(str.charCodeAt(index), str.charCodeAt(index + 1));
    }
  }
  function hexStringEqualsUInt8(str, buf) {
    if (str.length !== buf.length * 2) {
      return false;
    }
    for (let i = 0; i < buf.length; i++) {
      const strIndex = i << 1;
      if (buf[i] !== hexCharCodesToInt(str.charCodeAt(strIndex), str.charCodeAt(strIndex + 1))) {
        return false;
      }
    }
    return true;
  }
  var alpha = "a".charCodeAt(0) - 10;
  var digit = "0".charCodeAt(0);
  function getDigestHex(tmpBuffer, input, hashLength) {
    let p = 0;
    for (let i = 0; i < hashLength; i++) {
      let nibble = input[i] >>> 4;
      tmpBuffer[p++] = nibble > 9 ? nibble + alpha : nibble + digit;
      nibble = input[i] & 15;
      tmpBuffer[p++] = nibble > 9 ? nibble + alpha : nibble + digit;
    }
    return String.fromCharCode.apply(null, tmpBuffer);
  }
  var getUInt8Buffer = nodeBuffer !== null ? (data) => {
    if (typeof data === "string") {
      const buf = nodeBuffer.from(data, "utf8");
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
    }
    if (nodeBuffer.isBuffer(data)) {
      return new Uint8Array(data.buffer, data.byteOffset, data.length);
    }
    if (ArrayBuffer.isView(data)) {
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    }
    throw new Error("Invalid data type!");
  } : (data) => {
    if (typeof data === "string") {
      return textEncoder.encode(data);
    }
    if (ArrayBuffer.isView(data)) {
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    }
    throw new Error("Invalid data type!");
  };
  var base64Chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  var base64Lookup = new Uint8Array(256);
  for (let i = 0; i < base64Chars.length; i++) {
    base64Lookup[base64Chars.charCodeAt(i)] = i;
  }
  function getDecodeBase64Length(data) {
    let bufferLength = Math.floor(data.length * 0.75);
    const len = data.length;
    if (data[len - 1] === "=") {
      bufferLength -= 1;
      if (data[len - 2] === "=") {
        bufferLength -= 1;
      }
    }
    return bufferLength;
  }
  function decodeBase64(data) {
    const bufferLength = getDecodeBase64Length(data);
    const len = data.length;
    const bytes = new Uint8Array(bufferLength);
    let p = 0;
    for (let i = 0; i < len; i += 4) {
      const encoded1 = base64Lookup[data.charCodeAt(i)];
      const encoded2 = base64Lookup[data.charCodeAt(i + 1)];
      const encoded3 = base64Lookup[data.charCodeAt(i + 2)];
      const encoded4 = base64Lookup[data.charCodeAt(i + 3)];
      bytes[p] = encoded1 << 2 | encoded2 >> 4;
      p += 1;
      bytes[p] = (encoded2 & 15) << 4 | encoded3 >> 2;
      p += 1;
      bytes[p] = (encoded3 & 3) << 6 | encoded4 & 63;
      p += 1;
    }
    return bytes;
  }
  var MAX_HEAP = 16 * 1024;
  var WASM_FUNC_HASH_LENGTH = 4;
  var wasmMutex = new Mutex();
  var wasmModuleCache = /* @__PURE__ */ new Map();
  function WASMInterface(binary, hashLength) {
    return __awaiter(this, void 0, void 0, function* () {
      let wasmInstance = null;
      let memoryView = null;
      let initialized = false;
      if (typeof WebAssembly === "undefined") {
        throw new Error("WebAssembly is not supported in this environment!");
      }
      const writeMemory = (data, offset = 0) => {
        memoryView.set(data, offset);
      };
      const getMemory = () => memoryView;
      const getExports = () => wasmInstance.exports;
      const setMemorySize = (totalSize) => {
        wasmInstance.exports.Hash_SetMemorySize(totalSize);
        const arrayOffset = wasmInstance.exports.Hash_GetBuffer();
        const memoryBuffer = wasmInstance.exports.memory.buffer;
        memoryView = new Uint8Array(memoryBuffer, arrayOffset, totalSize);
      };
      const getStateSize = () => {
        const view = new DataView(wasmInstance.exports.memory.buffer);
        const stateSize = view.getUint32(wasmInstance.exports.STATE_SIZE, true);
        return stateSize;
      };
      const loadWASMPromise = wasmMutex.dispatch(() => __awaiter(this, void 0, void 0, function* () {
        if (!wasmModuleCache.has(binary.name)) {
          const asm = decodeBase64(binary.data);
          const promise = WebAssembly.compile(asm.buffer);
          wasmModuleCache.set(binary.name, promise);
        }
        const module = yield wasmModuleCache.get(binary.name);
        wasmInstance = yield WebAssembly.instantiate(module, {
          // env: {
          //   emscripten_memcpy_big: (dest, src, num) => {
          //     const memoryBuffer = wasmInstance.exports.memory.buffer;
          //     const memView = new Uint8Array(memoryBuffer, 0);
          //     memView.set(memView.subarray(src, src + num), dest);
          //   },
          //   print_memory: (offset, len) => {
          //     const memoryBuffer = wasmInstance.exports.memory.buffer;
          //     const memView = new Uint8Array(memoryBuffer, 0);
          //     console.log('print_int32', memView.subarray(offset, offset + len));
          //   },
          // },
        });
      }));
      const setupInterface = () => __awaiter(this, void 0, void 0, function* () {
        if (!wasmInstance) {
          yield loadWASMPromise;
        }
        const arrayOffset = wasmInstance.exports.Hash_GetBuffer();
        const memoryBuffer = wasmInstance.exports.memory.buffer;
        memoryView = new Uint8Array(memoryBuffer, arrayOffset, MAX_HEAP);
      });
      const init = (bits = null) => {
        initialized = true;
        wasmInstance.exports.Hash_Init(bits);
      };
      const updateUInt8Array = (data) => {
        let read = 0;
        while (read < data.length) {
          const chunk = data.subarray(read, read + MAX_HEAP);
          read += chunk.length;
          memoryView.set(chunk);
          wasmInstance.exports.Hash_Update(chunk.length);
        }
      };
      const update = (data) => {
        if (!initialized) {
          throw new Error("update() called before init()");
        }
        const Uint8Buffer = getUInt8Buffer(data);
        updateUInt8Array(Uint8Buffer);
      };
      const digestChars = new Uint8Array(hashLength * 2);
      const digest = (outputType, padding = null) => {
        if (!initialized) {
          throw new Error("digest() called before init()");
        }
        initialized = false;
        wasmInstance.exports.Hash_Final(padding);
        if (outputType === "binary") {
          return memoryView.slice(0, hashLength);
        }
        return getDigestHex(digestChars, memoryView, hashLength);
      };
      const save = () => {
        if (!initialized) {
          throw new Error("save() can only be called after init() and before digest()");
        }
        const stateOffset = wasmInstance.exports.Hash_GetState();
        const stateLength = getStateSize();
        const memoryBuffer = wasmInstance.exports.memory.buffer;
        const internalState = new Uint8Array(memoryBuffer, stateOffset, stateLength);
        const prefixedState = new Uint8Array(WASM_FUNC_HASH_LENGTH + stateLength);
        writeHexToUInt8(prefixedState, binary.hash);
        prefixedState.set(internalState, WASM_FUNC_HASH_LENGTH);
        return prefixedState;
      };
      const load = (state) => {
        if (!(state instanceof Uint8Array)) {
          throw new Error("load() expects an Uint8Array generated by save()");
        }
        const stateOffset = wasmInstance.exports.Hash_GetState();
        const stateLength = getStateSize();
        const overallLength = WASM_FUNC_HASH_LENGTH + stateLength;
        const memoryBuffer = wasmInstance.exports.memory.buffer;
        if (state.length !== overallLength) {
          throw new Error(`Bad state length (expected ${overallLength} bytes, got ${state.length})`);
        }
        if (!hexStringEqualsUInt8(binary.hash, state.subarray(0, WASM_FUNC_HASH_LENGTH))) {
          throw new Error("This state was written by an incompatible hash implementation");
        }
        const internalState = state.subarray(WASM_FUNC_HASH_LENGTH);
        new Uint8Array(memoryBuffer, stateOffset, stateLength).set(internalState);
        initialized = true;
      };
      const isDataShort = (data) => {
        if (typeof data === "string") {
          return data.length < MAX_HEAP / 4;
        }
        return data.byteLength < MAX_HEAP;
      };
      let canSimplify = isDataShort;
      switch (binary.name) {
        case "argon2":
        case "scrypt":
          canSimplify = () => true;
          break;
        case "blake2b":
        case "blake2s":
          canSimplify = (data, initParam) => initParam <= 512 && isDataShort(data);
          break;
        case "blake3":
          canSimplify = (data, initParam) => initParam === 0 && isDataShort(data);
          break;
        case "xxhash64":
        // cannot simplify
        case "xxhash3":
        case "xxhash128":
        case "crc64":
          canSimplify = () => false;
          break;
      }
      const calculate = (data, initParam = null, digestParam = null) => {
        if (!canSimplify(data, initParam)) {
          init(initParam);
          update(data);
          return digest("hex", digestParam);
        }
        const buffer = getUInt8Buffer(data);
        memoryView.set(buffer);
        wasmInstance.exports.Hash_Calculate(buffer.length, initParam, digestParam);
        return getDigestHex(digestChars, memoryView, hashLength);
      };
      yield setupInterface();
      return {
        getMemory,
        writeMemory,
        getExports,
        setMemorySize,
        init,
        update,
        digest,
        save,
        load,
        calculate,
        hashLength
      };
    });
  }
  var mutex$l = new Mutex();
  var mutex$k = new Mutex();
  var uint32View = new DataView(new ArrayBuffer(4));
  var mutex$j = new Mutex();
  var mutex$i = new Mutex();
  var mutex$h = new Mutex();
  var mutex$g = new Mutex();
  var polyBuffer = new Uint8Array(8);
  var mutex$f = new Mutex();
  var mutex$e = new Mutex();
  var mutex$d = new Mutex();
  var mutex$c = new Mutex();
  var mutex$b = new Mutex();
  var name$a = "sha256";
  var data$a = "AGFzbQEAAAABEQRgAAF/YAF/AGAAAGACf38AAwgHAAEBAQIAAwUEAQECAgYPAn8BQYCABAt/AEGAgAQLB4IBCQZtZW1vcnkCAA9fX3N0YWNrX3BvaW50ZXIDAA5IYXNoX0dldEJ1ZmZlcgAACUhhc2hfSW5pdAABC0hhc2hfVXBkYXRlAAIKSGFzaF9GaW5hbAAEDUhhc2hfR2V0U3RhdGUABQ5IYXNoX0NhbGN1bGF0ZQAGClNUQVRFX1NJWkUDAQqGSQcGAEGAgQQLnQEAQQBCADcDwIEFQQBBHEEgIABB4AFGIgAbNgLogQVBAEKnn+anxvST/b5/Qquzj/yRo7Pw2wAgABs3A+CBBUEAQrGWgP6fooWs6ABC/6S5iMWR2oKbfyAAGzcD2IEFQQBCl7rDg5Onlod3QvLmu+Ojp/2npX8gABs3A9CBBUEAQti9loj8oLW+NkLnzKfQ1tDrs7t/IAAbNwPIgQUL9wICAX4Hf0EAQQApA8CBBSIBIACtfDcDwIEFAkACQAJAIAGnQT9xIgINAEGAgQQhAwwBCyAAQcAAIAJrIgRJIQUCQCAARQ0AIAAgBCAFGyIDQQNxIQYgAkGAgQVqIQdBACECAkAgA0EESQ0AIANB/ABxIQhBACECA0AgByACaiIDIAJBgIEEai0AADoAACADQQFqIAJBgYEEai0AADoAACADQQJqIAJBgoEEai0AADoAACADQQNqIAJBg4EEai0AADoAACAIIAJBBGoiAkcNAAsgBkUNAQsDQCAHIAJqIAJBgIEEai0AADoAACACQQFqIQIgBkF/aiIGDQALCyAFDQFBgIEFEAMgACAEayEAIARBgIEEaiEDCwJAIABBwABJDQADQCADEAMgA0HAAGohAyAAQUBqIgBBP0sNAAsLIABFDQBBACEGQQAhAgNAIAJBgIEFaiADIAJqLQAAOgAAIAJBAWohAiAAIAZBAWoiBkH/AXFLDQALCwuDPQFFf0EAIAAoAjwiAUH/gfwHcUEIeCABQRh4Qf+B/AdxciIBQRl3IAFBDndzIAFBA3ZzIAAoAjgiAkH/gfwHcUEIeCACQRh4Qf+B/AdxciICaiAAKAIgIgNB/4H8B3FBCHggA0EYeEH/gfwHcXIiBEEZdyAEQQ53cyAEQQN2cyAAKAIcIgNB/4H8B3FBCHggA0EYeEH/gfwHcXIiBWogACgCBCIDQf+B/AdxQQh4IANBGHhB/4H8B3FyIgZBGXcgBkEOd3MgBkEDdnMgACgCACIDQf+B/AdxQQh4IANBGHhB/4H8B3FyIgdqIAAoAiQiA0H/gfwHcUEIeCADQRh4Qf+B/AdxciIIaiACQQ93IAJBDXdzIAJBCnZzaiIDaiAAKAIYIglB/4H8B3FBCHggCUEYeEH/gfwHcXIiCkEZdyAKQQ53cyAKQQN2cyAAKAIUIglB/4H8B3FBCHggCUEYeEH/gfwHcXIiC2ogAmogACgCECIJQf+B/AdxQQh4IAlBGHhB/4H8B3FyIgxBGXcgDEEOd3MgDEEDdnMgACgCDCIJQf+B/AdxQQh4IAlBGHhB/4H8B3FyIg1qIAAoAjAiCUH/gfwHcUEIeCAJQRh4Qf+B/AdxciIOaiAAKAIIIglB/4H8B3FBCHggCUEYeEH/gfwHcXIiD0EZdyAPQQ53cyAPQQN2cyAGaiAAKAIoIglB/4H8B3FBCHggCUEYeEH/gfwHcXIiEGogAUEPdyABQQ13cyABQQp2c2oiCUEPdyAJQQ13cyAJQQp2c2oiEUEPdyARQQ13cyARQQp2c2oiEkEPdyASQQ13cyASQQp2c2oiE2ogACgCNCIUQf+B/AdxQQh4IBRBGHhB/4H8B3FyIhVBGXcgFUEOd3MgFUEDdnMgDmogEmogACgCLCIAQf+B/AdxQQh4IABBGHhB/4H8B3FyIhZBGXcgFkEOd3MgFkEDdnMgEGogEWogCEEZdyAIQQ53cyAIQQN2cyAEaiAJaiAFQRl3IAVBDndzIAVBA3ZzIApqIAFqIAtBGXcgC0EOd3MgC0EDdnMgDGogFWogDUEZdyANQQ53cyANQQN2cyAPaiAWaiADQQ93IANBDXdzIANBCnZzaiIUQQ93IBRBDXdzIBRBCnZzaiIXQQ93IBdBDXdzIBdBCnZzaiIYQQ93IBhBDXdzIBhBCnZzaiIZQQ93IBlBDXdzIBlBCnZzaiIaQQ93IBpBDXdzIBpBCnZzaiIbQQ93IBtBDXdzIBtBCnZzaiIcQRl3IBxBDndzIBxBA3ZzIAJBGXcgAkEOd3MgAkEDdnMgFWogGGogDkEZdyAOQQ53cyAOQQN2cyAWaiAXaiAQQRl3IBBBDndzIBBBA3ZzIAhqIBRqIBNBD3cgE0ENd3MgE0EKdnNqIh1BD3cgHUENd3MgHUEKdnNqIh5BD3cgHkENd3MgHkEKdnNqIh9qIBNBGXcgE0EOd3MgE0EDdnMgGGogA0EZdyADQQ53cyADQQN2cyABaiAZaiAfQQ93IB9BDXdzIB9BCnZzaiIgaiASQRl3IBJBDndzIBJBA3ZzIBdqIB9qIBFBGXcgEUEOd3MgEUEDdnMgFGogHmogCUEZdyAJQQ53cyAJQQN2cyADaiAdaiAcQQ93IBxBDXdzIBxBCnZzaiIhQQ93ICFBDXdzICFBCnZzaiIiQQ93ICJBDXdzICJBCnZzaiIjQQ93ICNBDXdzICNBCnZzaiIkaiAbQRl3IBtBDndzIBtBA3ZzIB5qICNqIBpBGXcgGkEOd3MgGkEDdnMgHWogImogGUEZdyAZQQ53cyAZQQN2cyATaiAhaiAYQRl3IBhBDndzIBhBA3ZzIBJqIBxqIBdBGXcgF0EOd3MgF0EDdnMgEWogG2ogFEEZdyAUQQ53cyAUQQN2cyAJaiAaaiAgQQ93ICBBDXdzICBBCnZzaiIlQQ93ICVBDXdzICVBCnZzaiImQQ93ICZBDXdzICZBCnZzaiInQQ93ICdBDXdzICdBCnZzaiIoQQ93IChBDXdzIChBCnZzaiIpQQ93IClBDXdzIClBCnZzaiIqQQ93ICpBDXdzICpBCnZzaiIrQRl3ICtBDndzICtBA3ZzIB9BGXcgH0EOd3MgH0EDdnMgG2ogJ2ogHkEZdyAeQQ53cyAeQQN2cyAaaiAmaiAdQRl3IB1BDndzIB1BA3ZzIBlqICVqICRBD3cgJEENd3MgJEEKdnNqIixBD3cgLEENd3MgLEEKdnNqIi1BD3cgLUENd3MgLUEKdnNqIi5qICRBGXcgJEEOd3MgJEEDdnMgJ2ogIEEZdyAgQQ53cyAgQQN2cyAcaiAoaiAuQQ93IC5BDXdzIC5BCnZzaiIvaiAjQRl3ICNBDndzICNBA3ZzICZqIC5qICJBGXcgIkEOd3MgIkEDdnMgJWogLWogIUEZdyAhQQ53cyAhQQN2cyAgaiAsaiArQQ93ICtBDXdzICtBCnZzaiIwQQ93IDBBDXdzIDBBCnZzaiIxQQ93IDFBDXdzIDFBCnZzaiIyQQ93IDJBDXdzIDJBCnZzaiIzaiAqQRl3ICpBDndzICpBA3ZzIC1qIDJqIClBGXcgKUEOd3MgKUEDdnMgLGogMWogKEEZdyAoQQ53cyAoQQN2cyAkaiAwaiAnQRl3ICdBDndzICdBA3ZzICNqICtqICZBGXcgJkEOd3MgJkEDdnMgImogKmogJUEZdyAlQQ53cyAlQQN2cyAhaiApaiAvQQ93IC9BDXdzIC9BCnZzaiI0QQ93IDRBDXdzIDRBCnZzaiI1QQ93IDVBDXdzIDVBCnZzaiI2QQ93IDZBDXdzIDZBCnZzaiI3QQ93IDdBDXdzIDdBCnZzaiI4QQ93IDhBDXdzIDhBCnZzaiI5QQ93IDlBDXdzIDlBCnZzaiI6IDggNCAuICwgISAbIBkgAyAOIARBACgC2IEFIjtBGncgO0EVd3MgO0EHd3NBACgC5IEFIjxqQQAoAuCBBSI9QQAoAtyBBSI+cyA7cSA9c2ogB2pBmN+olARqIgdBACgC1IEFIj9qIgAgDGogOyANaiA+IA9qID0gBmogACA+IDtzcSA+c2ogAEEadyAAQRV3cyAAQQd3c2pBkYndiQdqIkBBACgC0IEFIkFqIgwgACA7c3EgO3NqIAxBGncgDEEVd3MgDEEHd3NqQc/3g657aiJCQQAoAsyBBSJDaiINIAwgAHNxIABzaiANQRp3IA1BFXdzIA1BB3dzakGlt9fNfmoiREEAKALIgQUiAGoiDyANIAxzcSAMc2ogD0EadyAPQRV3cyAPQQd3c2pB24TbygNqIkUgQSBDIABzcSBDIABxcyAAQR53IABBE3dzIABBCndzaiAHaiIGaiIHaiAFIA9qIAogDWogCyAMaiAHIA8gDXNxIA1zaiAHQRp3IAdBFXdzIAdBB3dzakHxo8TPBWoiCiAGIABzIENxIAYgAHFzIAZBHncgBkETd3MgBkEKd3NqIEBqIgxqIgQgByAPc3EgD3NqIARBGncgBEEVd3MgBEEHd3NqQaSF/pF5aiILIAwgBnMgAHEgDCAGcXMgDEEedyAMQRN3cyAMQQp3c2ogQmoiDWoiDyAEIAdzcSAHc2ogD0EadyAPQRV3cyAPQQd3c2pB1b3x2HpqIkAgDSAMcyAGcSANIAxxcyANQR53IA1BE3dzIA1BCndzaiBEaiIGaiIHIA8gBHNxIARzaiAHQRp3IAdBFXdzIAdBB3dzakGY1Z7AfWoiQiAGIA1zIAxxIAYgDXFzIAZBHncgBkETd3MgBkEKd3NqIEVqIgxqIgVqIBYgB2ogECAPaiAIIARqIAUgByAPc3EgD3NqIAVBGncgBUEVd3MgBUEHd3NqQYG2jZQBaiIIIAwgBnMgDXEgDCAGcXMgDEEedyAMQRN3cyAMQQp3c2ogCmoiDWoiDyAFIAdzcSAHc2ogD0EadyAPQRV3cyAPQQd3c2pBvovGoQJqIg4gDSAMcyAGcSANIAxxcyANQR53IA1BE3dzIA1BCndzaiALaiIGaiIHIA8gBXNxIAVzaiAHQRp3IAdBFXdzIAdBB3dzakHD+7GoBWoiECAGIA1zIAxxIAYgDXFzIAZBHncgBkETd3MgBkEKd3NqIEBqIgxqIgQgByAPc3EgD3NqIARBGncgBEEVd3MgBEEHd3NqQfS6+ZUHaiIWIAwgBnMgDXEgDCAGcXMgDEEedyAMQRN3cyAMQQp3c2ogQmoiDWoiBWogASAEaiACIAdqIBUgD2ogBSAEIAdzcSAHc2ogBUEadyAFQRV3cyAFQQd3c2pB/uP6hnhqIgcgDSAMcyAGcSANIAxxcyANQR53IA1BE3dzIA1BCndzaiAIaiIBaiIGIAUgBHNxIARzaiAGQRp3IAZBFXdzIAZBB3dzakGnjfDeeWoiBCABIA1zIAxxIAEgDXFzIAFBHncgAUETd3MgAUEKd3NqIA5qIgJqIgwgBiAFc3EgBXNqIAxBGncgDEEVd3MgDEEHd3NqQfTi74x8aiIFIAIgAXMgDXEgAiABcXMgAkEedyACQRN3cyACQQp3c2ogEGoiA2oiDSAMIAZzcSAGc2ogDUEadyANQRV3cyANQQd3c2pBwdPtpH5qIgggAyACcyABcSADIAJxcyADQR53IANBE3dzIANBCndzaiAWaiIBaiIPIBdqIBEgDWogFCAMaiAJIAZqIA8gDSAMc3EgDHNqIA9BGncgD0EVd3MgD0EHd3NqQYaP+f1+aiIGIAEgA3MgAnEgASADcXMgAUEedyABQRN3cyABQQp3c2ogB2oiAmoiCSAPIA1zcSANc2ogCUEadyAJQRV3cyAJQQd3c2pBxruG/gBqIgwgAiABcyADcSACIAFxcyACQR53IAJBE3dzIAJBCndzaiAEaiIDaiIRIAkgD3NxIA9zaiARQRp3IBFBFXdzIBFBB3dzakHMw7KgAmoiDSADIAJzIAFxIAMgAnFzIANBHncgA0ETd3MgA0EKd3NqIAVqIgFqIhQgESAJc3EgCXNqIBRBGncgFEEVd3MgFEEHd3NqQe/YpO8CaiIPIAEgA3MgAnEgASADcXMgAUEedyABQRN3cyABQQp3c2ogCGoiAmoiF2ogEyAUaiAYIBFqIBIgCWogFyAUIBFzcSARc2ogF0EadyAXQRV3cyAXQQd3c2pBqonS0wRqIhggAiABcyADcSACIAFxcyACQR53IAJBE3dzIAJBCndzaiAGaiIDaiIJIBcgFHNxIBRzaiAJQRp3IAlBFXdzIAlBB3dzakHc08LlBWoiFCADIAJzIAFxIAMgAnFzIANBHncgA0ETd3MgA0EKd3NqIAxqIgFqIhEgCSAXc3EgF3NqIBFBGncgEUEVd3MgEUEHd3NqQdqR5rcHaiIXIAEgA3MgAnEgASADcXMgAUEedyABQRN3cyABQQp3c2ogDWoiAmoiEiARIAlzcSAJc2ogEkEadyASQRV3cyASQQd3c2pB0qL5wXlqIhkgAiABcyADcSACIAFxcyACQR53IAJBE3dzIAJBCndzaiAPaiIDaiITaiAeIBJqIBogEWogHSAJaiATIBIgEXNxIBFzaiATQRp3IBNBFXdzIBNBB3dzakHtjMfBemoiGiADIAJzIAFxIAMgAnFzIANBHncgA0ETd3MgA0EKd3NqIBhqIgFqIgkgEyASc3EgEnNqIAlBGncgCUEVd3MgCUEHd3NqQcjPjIB7aiIYIAEgA3MgAnEgASADcXMgAUEedyABQRN3cyABQQp3c2ogFGoiAmoiESAJIBNzcSATc2ogEUEadyARQRV3cyARQQd3c2pBx//l+ntqIhQgAiABcyADcSACIAFxcyACQR53IAJBE3dzIAJBCndzaiAXaiIDaiISIBEgCXNxIAlzaiASQRp3IBJBFXdzIBJBB3dzakHzl4C3fGoiFyADIAJzIAFxIAMgAnFzIANBHncgA0ETd3MgA0EKd3NqIBlqIgFqIhNqICAgEmogHCARaiAfIAlqIBMgEiARc3EgEXNqIBNBGncgE0EVd3MgE0EHd3NqQceinq19aiIZIAEgA3MgAnEgASADcXMgAUEedyABQRN3cyABQQp3c2ogGmoiAmoiCSATIBJzcSASc2ogCUEadyAJQRV3cyAJQQd3c2pB0capNmoiGiACIAFzIANxIAIgAXFzIAJBHncgAkETd3MgAkEKd3NqIBhqIgNqIhEgCSATc3EgE3NqIBFBGncgEUEVd3MgEUEHd3NqQefSpKEBaiIYIAMgAnMgAXEgAyACcXMgA0EedyADQRN3cyADQQp3c2ogFGoiAWoiEiARIAlzcSAJc2ogEkEadyASQRV3cyASQQd3c2pBhZXcvQJqIhQgASADcyACcSABIANxcyABQR53IAFBE3dzIAFBCndzaiAXaiICaiITICNqICYgEmogIiARaiAlIAlqIBMgEiARc3EgEXNqIBNBGncgE0EVd3MgE0EHd3NqQbjC7PACaiIXIAIgAXMgA3EgAiABcXMgAkEedyACQRN3cyACQQp3c2ogGWoiA2oiCSATIBJzcSASc2ogCUEadyAJQRV3cyAJQQd3c2pB/Nux6QRqIhkgAyACcyABcSADIAJxcyADQR53IANBE3dzIANBCndzaiAaaiIBaiIRIAkgE3NxIBNzaiARQRp3IBFBFXdzIBFBB3dzakGTmuCZBWoiGiABIANzIAJxIAEgA3FzIAFBHncgAUETd3MgAUEKd3NqIBhqIgJqIhIgESAJc3EgCXNqIBJBGncgEkEVd3MgEkEHd3NqQdTmqagGaiIYIAIgAXMgA3EgAiABcXMgAkEedyACQRN3cyACQQp3c2ogFGoiA2oiE2ogKCASaiAkIBFqICcgCWogEyASIBFzcSARc2ogE0EadyATQRV3cyATQQd3c2pBu5WoswdqIhQgAyACcyABcSADIAJxcyADQR53IANBE3dzIANBCndzaiAXaiIBaiIJIBMgEnNxIBJzaiAJQRp3IAlBFXdzIAlBB3dzakGukouOeGoiFyABIANzIAJxIAEgA3FzIAFBHncgAUETd3MgAUEKd3NqIBlqIgJqIhEgCSATc3EgE3NqIBFBGncgEUEVd3MgEUEHd3NqQYXZyJN5aiIZIAIgAXMgA3EgAiABcXMgAkEedyACQRN3cyACQQp3c2ogGmoiA2oiEiARIAlzcSAJc2ogEkEadyASQRV3cyASQQd3c2pBodH/lXpqIhogAyACcyABcSADIAJxcyADQR53IANBE3dzIANBCndzaiAYaiIBaiITaiAqIBJqIC0gEWogKSAJaiATIBIgEXNxIBFzaiATQRp3IBNBFXdzIBNBB3dzakHLzOnAemoiGCABIANzIAJxIAEgA3FzIAFBHncgAUETd3MgAUEKd3NqIBRqIgJqIgkgEyASc3EgEnNqIAlBGncgCUEVd3MgCUEHd3NqQfCWrpJ8aiIUIAIgAXMgA3EgAiABcXMgAkEedyACQRN3cyACQQp3c2ogF2oiA2oiESAJIBNzcSATc2ogEUEadyARQRV3cyARQQd3c2pBo6Oxu3xqIhcgAyACcyABcSADIAJxcyADQR53IANBE3dzIANBCndzaiAZaiIBaiISIBEgCXNxIAlzaiASQRp3IBJBFXdzIBJBB3dzakGZ0MuMfWoiGSABIANzIAJxIAEgA3FzIAFBHncgAUETd3MgAUEKd3NqIBpqIgJqIhNqIDAgEmogLyARaiArIAlqIBMgEiARc3EgEXNqIBNBGncgE0EVd3MgE0EHd3NqQaSM5LR9aiIaIAIgAXMgA3EgAiABcXMgAkEedyACQRN3cyACQQp3c2ogGGoiA2oiCSATIBJzcSASc2ogCUEadyAJQRV3cyAJQQd3c2pBheu4oH9qIhggAyACcyABcSADIAJxcyADQR53IANBE3dzIANBCndzaiAUaiIBaiIRIAkgE3NxIBNzaiARQRp3IBFBFXdzIBFBB3dzakHwwKqDAWoiFCABIANzIAJxIAEgA3FzIAFBHncgAUETd3MgAUEKd3NqIBdqIgJqIhIgESAJc3EgCXNqIBJBGncgEkEVd3MgEkEHd3NqQZaCk80BaiIXIAIgAXMgA3EgAiABcXMgAkEedyACQRN3cyACQQp3c2ogGWoiA2oiEyA2aiAyIBJqIDUgEWogMSAJaiATIBIgEXNxIBFzaiATQRp3IBNBFXdzIBNBB3dzakGI2N3xAWoiGSADIAJzIAFxIAMgAnFzIANBHncgA0ETd3MgA0EKd3NqIBpqIgFqIgkgEyASc3EgEnNqIAlBGncgCUEVd3MgCUEHd3NqQczuoboCaiIaIAEgA3MgAnEgASADcXMgAUEedyABQRN3cyABQQp3c2ogGGoiAmoiESAJIBNzcSATc2ogEUEadyARQRV3cyARQQd3c2pBtfnCpQNqIhggAiABcyADcSACIAFxcyACQR53IAJBE3dzIAJBCndzaiAUaiIDaiISIBEgCXNxIAlzaiASQRp3IBJBFXdzIBJBB3dzakGzmfDIA2oiFCADIAJzIAFxIAMgAnFzIANBHncgA0ETd3MgA0EKd3NqIBdqIgFqIhNqICxBGXcgLEEOd3MgLEEDdnMgKGogNGogM0EPdyAzQQ13cyAzQQp2c2oiFyASaiA3IBFqIDMgCWogEyASIBFzcSARc2ogE0EadyATQRV3cyATQQd3c2pBytTi9gRqIhsgASADcyACcSABIANxcyABQR53IAFBE3dzIAFBCndzaiAZaiICaiIJIBMgEnNxIBJzaiAJQRp3IAlBFXdzIAlBB3dzakHPlPPcBWoiGSACIAFzIANxIAIgAXFzIAJBHncgAkETd3MgAkEKd3NqIBpqIgNqIhEgCSATc3EgE3NqIBFBGncgEUEVd3MgEUEHd3NqQfPfucEGaiIaIAMgAnMgAXEgAyACcXMgA0EedyADQRN3cyADQQp3c2ogGGoiAWoiEiARIAlzcSAJc2ogEkEadyASQRV3cyASQQd3c2pB7oW+pAdqIhwgASADcyACcSABIANxcyABQR53IAFBE3dzIAFBCndzaiAUaiICaiITaiAuQRl3IC5BDndzIC5BA3ZzICpqIDZqIC1BGXcgLUEOd3MgLUEDdnMgKWogNWogF0EPdyAXQQ13cyAXQQp2c2oiFEEPdyAUQQ13cyAUQQp2c2oiGCASaiA5IBFqIBQgCWogEyASIBFzcSARc2ogE0EadyATQRV3cyATQQd3c2pB78aVxQdqIgkgAiABcyADcSACIAFxcyACQR53IAJBE3dzIAJBCndzaiAbaiIDaiIRIBMgEnNxIBJzaiARQRp3IBFBFXdzIBFBB3dzakGU8KGmeGoiGyADIAJzIAFxIAMgAnFzIANBHncgA0ETd3MgA0EKd3NqIBlqIgFqIhIgESATc3EgE3NqIBJBGncgEkEVd3MgEkEHd3NqQYiEnOZ4aiIZIAEgA3MgAnEgASADcXMgAUEedyABQRN3cyABQQp3c2ogGmoiAmoiEyASIBFzcSARc2ogE0EadyATQRV3cyATQQd3c2pB+v/7hXlqIhogAiABcyADcSACIAFxcyACQR53IAJBE3dzIAJBCndzaiAcaiIDaiIUIDxqNgLkgQVBACA/IAMgAnMgAXEgAyACcXMgA0EedyADQRN3cyADQQp3c2ogCWoiASADcyACcSABIANxcyABQR53IAFBE3dzIAFBCndzaiAbaiICIAFzIANxIAIgAXFzIAJBHncgAkETd3MgAkEKd3NqIBlqIgMgAnMgAXEgAyACcXMgA0EedyADQRN3cyADQQp3c2ogGmoiCWo2AtSBBUEAID0gL0EZdyAvQQ53cyAvQQN2cyAraiA3aiAYQQ93IBhBDXdzIBhBCnZzaiIYIBFqIBQgEyASc3EgEnNqIBRBGncgFEEVd3MgFEEHd3NqQevZwaJ6aiIZIAFqIhFqNgLggQVBACBBIAkgA3MgAnEgCSADcXMgCUEedyAJQRN3cyAJQQp3c2ogGWoiAWo2AtCBBUEAID4gMEEZdyAwQQ53cyAwQQN2cyAvaiAXaiA6QQ93IDpBDXdzIDpBCnZzaiASaiARIBQgE3NxIBNzaiARQRp3IBFBFXdzIBFBB3dzakH3x+b3e2oiFyACaiISajYC3IEFQQAgQyABIAlzIANxIAEgCXFzIAFBHncgAUETd3MgAUEKd3NqIBdqIgJqNgLMgQVBACA7IDRBGXcgNEEOd3MgNEEDdnMgMGogOGogGEEPdyAYQQ13cyAYQQp2c2ogE2ogEiARIBRzcSAUc2ogEkEadyASQRV3cyASQQd3c2pB8vHFs3xqIhEgA2pqNgLYgQVBACAAIAIgAXMgCXEgAiABcXMgAkEedyACQRN3cyACQQp3c2ogEWpqNgLIgQULswYCBH8BfkEAKALAgQUiAEECdkEPcSIBQQJ0IgIgAigCgIEFQX8gAEEDdCIAdEF/c3FBgAEgAHRzNgKAgQUCQAJAAkAgAUEOSQ0AAkAgAUEORw0AQQBBADYCvIEFC0GAgQUQA0EAIQIMAQsgAUENRg0BIAFBAWohAgsgAiEDAkBBBiACa0EHcSIARQ0AIAIgAGohAyACQQJ0QYCBBWohAQNAIAFBADYCACABQQRqIQEgAEF/aiIADQALCyACQXlqQQdJDQACQEEGIANrIgBBCHENACADQQJ0IgFCADcCmIEFIAFCADcCkIEFIAFCADcCiIEFIAFCADcCgIEFIABBCEkNASADQQhqIQMLIANBAnRBgIEFaiEBA0AgAUIANwIAIAFBOGpCADcCACABQTBqQgA3AgAgAUEoakIANwIAIAFBIGpCADcCACABQRhqQgA3AgAgAUEQakIANwIAIAFBCGpCADcCACABQcAAaiEBDAALC0EAIQBBAEEAKQPAgQUiBKdBA3QiAUH4gfwHcUEIeCABQRh4Qf+B/AdxcjYCvIEFQQAgBEIdiKciAUH/gfwHcUEIeCABQRh4Qf+B/AdxcjYCuIEFQYCBBRADQQBBACgC5IEFIgFB/4H8B3FBCHggAUEYeEH/gfwHcXI2AuSBBUEAQQAoAuCBBSIBQf+B/AdxQQh4IAFBGHhB/4H8B3FyNgLggQVBAEEAKALcgQUiAUH/gfwHcUEIeCABQRh4Qf+B/AdxcjYC3IEFQQBBACgC2IEFIgFB/4H8B3FBCHggAUEYeEH/gfwHcXI2AtiBBUEAQQAoAtSBBSIBQf+B/AdxQQh4IAFBGHhB/4H8B3FyNgLUgQVBAEEAKALQgQUiAUH/gfwHcUEIeCABQRh4Qf+B/AdxcjYC0IEFQQBBACgCzIEFIgFB/4H8B3FBCHggAUEYeEH/gfwHcXI2AsyBBUEAQQAoAsiBBSIBQf+B/AdxQQh4IAFBGHhB/4H8B3FyNgLIgQUCQEEAKALogQUiAkUNAEEAIQEDQCABQYCBBGogAUHIgQVqLQAAOgAAIAFBAWohASACIABBAWoiAEH/AXFLDQALCwsGAEGAgQULowEAQQBCADcDwIEFQQBBHEEgIAFB4AFGIgEbNgLogQVBAEKnn+anxvST/b5/Qquzj/yRo7Pw2wAgARs3A+CBBUEAQrGWgP6fooWs6ABC/6S5iMWR2oKbfyABGzcD2IEFQQBCl7rDg5Onlod3QvLmu+Ojp/2npX8gARs3A9CBBUEAQti9loj8oLW+NkLnzKfQ1tDrs7t/IAEbNwPIgQUgABACEAQLCwwBAEGAgAQLBHAAAAA=";
  var hash$a = "8ed695a3";
  var wasmJson$a = {
    name: name$a,
    data: data$a,
    hash: hash$a
  };
  var mutex$a = new Mutex();
  var mutex$9 = new Mutex();
  function createSHA256() {
    return WASMInterface(wasmJson$a, 32).then((wasm) => {
      wasm.init(256);
      const obj = {
        init: () => {
          wasm.init(256);
          return obj;
        },
        update: (data) => {
          wasm.update(data);
          return obj;
        },
        // biome-ignore lint/suspicious/noExplicitAny: Conflict with IHasher type
        digest: (outputType) => wasm.digest(outputType),
        save: () => wasm.save(),
        load: (data) => {
          wasm.load(data);
          return obj;
        },
        blockSize: 64,
        digestSize: 32
      };
      return obj;
    });
  }
  var mutex$8 = new Mutex();
  var mutex$7 = new Mutex();
  var mutex$6 = new Mutex();
  var mutex$5 = new Mutex();
  var seedBuffer$2 = new Uint8Array(8);
  var mutex$4 = new Mutex();
  var seedBuffer$1 = new Uint8Array(8);
  var mutex$3 = new Mutex();
  var seedBuffer = new Uint8Array(8);
  var mutex$2 = new Mutex();
  var mutex$1 = new Mutex();
  var mutex = new Mutex();

  // src/sha256_engine.js
  async function createIncrementalSha256() {
    try {
      const hasher = await createSHA256();
      hasher.init();
      return {
        update: (bytes) => {
          hasher.update(bytes);
        },
        hex: () => hasher.digest("hex")
      };
    } catch {
      const hasher = sha256.create();
      return {
        update: (bytes) => {
          hasher.update(bytes);
        },
        hex: () => bytesToHex(hasher.digest())
      };
    }
  }
  var HASH_SLICE_BYTES = 4 * 1024 * 1024;
  async function sha256OfBlob(blob, pause = async () => {
  }, asStream = isChromium(globalThis.navigator)) {
    const hasher = await createIncrementalSha256();
    let sincePause = 0;
    for await (const bytes of asStream ? streamed(blob) : sliced(blob)) {
      hasher.update(bytes);
      sincePause += bytes.byteLength;
      if (sincePause >= HASH_SLICE_BYTES) {
        sincePause = 0;
        await pause();
      }
    }
    return hasher.hex();
  }
  async function* streamed(blob) {
    const reader = blob.stream().getReader();
    for (; ; ) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  }
  async function* sliced(blob) {
    const size = blob.size;
    const read = (at) => {
      const reading = blob.slice(at, Math.min(at + HASH_SLICE_BYTES, size)).arrayBuffer();
      reading.catch(() => {
      });
      return reading;
    };
    let next = size > 0 ? read(0) : null;
    for (let at = 0; next !== null; ) {
      const bytes = await next;
      at += HASH_SLICE_BYTES;
      next = at < size ? read(at) : null;
      yield new Uint8Array(bytes);
    }
  }
  var ONE_SHOT_MAX_BYTES = 32 * 1024 * 1024;
  async function sha256OfFile(blob, pause) {
    const subtle = globalThis.crypto?.subtle;
    if (blob.size <= ONE_SHOT_MAX_BYTES && typeof subtle?.digest === "function") {
      const bytes = await blob.arrayBuffer();
      let digest;
      try {
        digest = await subtle.digest("SHA-256", bytes);
      } catch {
        return sha256OfBlob(blob, pause);
      }
      return bytesToHex(new Uint8Array(digest));
    }
    return sha256OfBlob(blob, pause);
  }

  // src/file_hasher.js
  var WORKER_SOURCE = true ? '(()=>{var tA=A=>A/2**32|0,nA=A=>A>>>0;function O(A,I,B,g){let Q=tA(B),C=nA(B);A.setUint32(I,g?C:Q,g),A.setUint32(I+4,g?Q:C,g)}function b(A){return A instanceof Uint8Array||ArrayBuffer.isView(A)&&A.constructor.name==="Uint8Array"&&"BYTES_PER_ELEMENT"in A&&A.BYTES_PER_ELEMENT===1}var p=A=>A?`"${A}" `:"";function wA(A,I=""){if(typeof A!="number")throw new TypeError(p(I)+"expected number, got "+typeof A);if(!Number.isSafeInteger(A)||A<0)throw new RangeError(p(I)+"expected integer >= 0, got "+A);return A}function N(A,I,B=""){if(b(A)&&(I===void 0||A.length===I))return A;I!==void 0&&wA(I,"length");let g=b(A),Q=I!==void 0?` of length ${I}`:"",C=g?`length=${A.length}`:`type=${typeof A}`,E=p(B)+"expected Uint8Array"+Q+", got "+C;throw g?new RangeError(E):new TypeError(E)}var rA=(A,I)=>{if(A===null||typeof A!="object"||Array.isArray(A))throw new TypeError((I==="object"?"":`"${I}" `)+"expected object, got type="+typeof A)},W=(A,I)=>{rA(A,I);let B=Object.getPrototypeOf(A);if(B!==Object.prototype&&B!==null)throw new TypeError(`"${I}" expected plain object`);if(Object.hasOwn(A,"__proto__"))throw new TypeError(`"${I}.__proto__" is not allowed`)};function R(A,I=!0){if(A.destroyed)throw new Error("hash was destroyed");if(I&&A.finished)throw new Error("digest() was already called")}function P(A,I){N(A,void 0,"output");let B=I.outputLen;if(!(A.length>=B))throw new RangeError(\'"output" expected length >= \'+B)}function Y(...A){for(let I=0;I<A.length;I++)A[I].fill(0)}function s(A){return new DataView(A.buffer,A.byteOffset,A.byteLength)}function n(A,I){return A<<32-I|A>>>I}var fA=typeof Uint8Array.from([]).toHex=="function"&&typeof Uint8Array.fromHex=="function",UA=Array.from({length:256},(A,I)=>I.toString(16).padStart(2,"0"));function l(A){if(N(A),fA)return A.toHex();let I="";for(let B=0;B<A.length;B++)I+=UA[A[B]];return I}function dA(A,I,B="opts"){return W(A,"defaults"),I!==void 0&&W(I,B),Object.assign(Object.create(null),A,I)}function v(A,I={}){if(typeof A!="function")throw new TypeError(\'"hashCons" expected function, got type=\'+typeof A);I=dA({},I,"info");let B=(Q,C)=>A(C).update(Q).digest(),g=A(void 0);return B.outputLen=g.outputLen,B.blockLen=g.blockLen,B.canXOF=g.canXOF,B.create=Q=>A(Q),Object.assign(B,I),Object.freeze(B)}var T=A=>({oid:Uint8Array.from([6,9,96,134,72,1,101,3,4,2,A])});function j(A,I,B){return A&I^~A&B}function $(A,I,B){return A&I^A&B^I&B}var q=class{blockLen;outputLen;canXOF=!1;padOffset;isLE;buffer;view;finished=!1;length=0;pos=0;destroyed=!1;constructor(I,B,g,Q){this.blockLen=I,this.outputLen=B,this.padOffset=g,this.isLE=Q,this.buffer=new Uint8Array(I),this.view=s(this.buffer)}update(I){R(this),N(I);let{view:B,buffer:g,blockLen:Q}=this,C=I.length,E=!1;for(let c=0;c<C;){let F=Math.min(Q-this.pos,C-c);if(F===Q){let e=s(I);for(;Q<=C-c;c+=Q)this.process(e,c);E=!0;continue}g.set(c===0&&F===C?I:I.subarray(c,c+F),this.pos),this.pos+=F,c+=F,this.pos===Q&&(this.process(B,0),this.pos=0,E=!0)}return this.length+=I.length,E&&this.roundClean(),this}digestInto(I){R(this),P(I,this),this.finished=!0;let{buffer:B,view:g,blockLen:Q,isLE:C}=this,{pos:E}=this;B[E++]=128,B.fill(0,E),this.padOffset>Q-E&&(this.process(g,0),B.fill(0)),O(g,Q-8,this.length*8,C),this.process(g,0),this.roundClean();let c=I===B?g:s(I),F=this.outputLen,e=F/4,a=this.get();if(F%4||e>a.length)throw new Error("invalid outputLen");for(let h=0;h<e;h++)c.setUint32(4*h,a[h],C)}digest(){let{buffer:I,outputLen:B}=this;this.digestInto(I);let g=I.slice(0,B);return this.destroy(),g}_cloneIntoMeta(I){let{buffer:B,length:g,finished:Q,destroyed:C,pos:E}=this;return I.destroyed=C,I.finished=Q,I.length=g,I.pos=E,E&&I.buffer.set(B),I}clone(){return this._cloneInto()}},_=Uint32Array.from([1779033703,3144134277,1013904242,2773480762,1359893119,2600822924,528734635,1541459225]);var SA=Uint32Array.from([1116352408,1899447441,3049323471,3921009573,961987163,1508970993,2453635748,2870763221,3624381080,310598401,607225278,1426881987,1925078388,2162078206,2614888103,3248222580,3835390401,4022224774,264347078,604807628,770255983,1249150122,1555081692,1996064986,2554220882,2821834349,2952996808,3210313671,3336571891,3584528711,113926993,338241895,666307205,773529912,1294757372,1396182291,1695183700,1986661051,2177026350,2456956037,2730485921,2820302411,3259730800,3345764771,3516065817,3600352804,4094571909,275423344,430227734,506948616,659060556,883997877,958139571,1322822218,1537002063,1747873779,1955562222,2024104815,2227730452,2361852424,2428436474,2756734187,3204031479,3329325298]),f=new Uint32Array(64),u=class extends q{A=0;B=0;C=0;D=0;E=0;F=0;G=0;H=0;constructor(I,B){super(64,I,8,!1),this.A=B[0]|0,this.B=B[1]|0,this.C=B[2]|0,this.D=B[3]|0,this.E=B[4]|0,this.F=B[5]|0,this.G=B[6]|0,this.H=B[7]|0}get(){let{A:I,B,C:g,D:Q,E:C,F:E,G:c,H:F}=this;return[I,B,g,Q,C,E,c,F]}set(I,B,g,Q,C,E,c,F){this.A=I|0,this.B=B|0,this.C=g|0,this.D=Q|0,this.E=C|0,this.F=E|0,this.G=c|0,this.H=F|0}_cloneInto(I){return(I||=new this.constructor).set(...this.get()),this._cloneIntoMeta(I)}process(I,B){for(let h=0;h<16;h++,B+=4)f[h]=I.getUint32(B,!1);for(let h=16;h<64;h++){let w=f[h-15],r=f[h-2],S=n(w,7)^n(w,18)^w>>>3,d=n(r,17)^n(r,19)^r>>>10;f[h]=d+f[h-7]+S+f[h-16]|0}let{A:g,B:Q,C,D:E,E:c,F,G:e,H:a}=this;for(let h=0;h<64;h++){let w=n(c,6)^n(c,11)^n(c,25),r=a+w+j(c,F,e)+SA[h]+f[h]|0,d=(n(g,2)^n(g,13)^n(g,22))+$(g,Q,C)|0;a=e,e=F,F=c,c=E+r|0,E=C,C=Q,Q=g,g=r+d|0}g=g+this.A|0,Q=Q+this.B|0,C=C+this.C|0,E=E+this.D|0,c=c+this.E|0,F=F+this.F|0,e=e+this.G|0,a=a+this.H|0,this.set(g,Q,C,E,c,F,e,a)}roundClean(){Y(f)}destroy(){this.destroyed=!0,this.set(0,0,0,0,0,0,0,0),Y(this.buffer)}},x=class extends u{constructor(){super(32,_)}};var AA=v(()=>new x,T(1));function M(A,I,B,g){function Q(C){return C instanceof B?C:new B(function(E){E(C)})}return new(B||(B=Promise))(function(C,E){function c(a){try{e(g.next(a))}catch(h){E(h)}}function F(a){try{e(g.throw(a))}catch(h){E(h)}}function e(a){a.done?C(a.value):Q(a.value).then(c,F)}e((g=g.apply(A,I||[])).next())})}var D=class{constructor(){this.mutex=Promise.resolve()}lock(){let I=()=>{};return this.mutex=this.mutex.then(()=>new Promise(I)),new Promise(B=>{I=B})}dispatch(I){return M(this,void 0,void 0,function*(){let B=yield this.lock();try{return yield Promise.resolve(I())}finally{B()}})}},V;function kA(){return typeof globalThis<"u"?globalThis:typeof self<"u"?self:typeof window<"u"?window:global}var L=kA(),X=(V=L.Buffer)!==null&&V!==void 0?V:null,yA=L.TextEncoder?new L.TextEncoder:null;function iA(A,I){return(A&15)+(A>>6|A>>3&8)<<4|(I&15)+(I>>6|I>>3&8)}function GA(A,I){let B=I.length>>1;for(let g=0;g<B;g++){let Q=g<<1;A[g]=iA(I.charCodeAt(Q),I.charCodeAt(Q+1))}}function HA(A,I){if(A.length!==I.length*2)return!1;for(let B=0;B<I.length;B++){let g=B<<1;if(I[B]!==iA(A.charCodeAt(g),A.charCodeAt(g+1)))return!1}return!0}var IA=87,BA=48;function gA(A,I,B){let g=0;for(let Q=0;Q<B;Q++){let C=I[Q]>>>4;A[g++]=C>9?C+IA:C+BA,C=I[Q]&15,A[g++]=C>9?C+IA:C+BA}return String.fromCharCode.apply(null,A)}var QA=X!==null?A=>{if(typeof A=="string"){let I=X.from(A,"utf8");return new Uint8Array(I.buffer,I.byteOffset,I.length)}if(X.isBuffer(A))return new Uint8Array(A.buffer,A.byteOffset,A.length);if(ArrayBuffer.isView(A))return new Uint8Array(A.buffer,A.byteOffset,A.byteLength);throw new Error("Invalid data type!")}:A=>{if(typeof A=="string")return yA.encode(A);if(ArrayBuffer.isView(A))return new Uint8Array(A.buffer,A.byteOffset,A.byteLength);throw new Error("Invalid data type!")},CA="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",H=new Uint8Array(256);for(let A=0;A<CA.length;A++)H[CA.charCodeAt(A)]=A;function NA(A){let I=Math.floor(A.length*.75),B=A.length;return A[B-1]==="="&&(I-=1,A[B-2]==="="&&(I-=1)),I}function sA(A){let I=NA(A),B=A.length,g=new Uint8Array(I),Q=0;for(let C=0;C<B;C+=4){let E=H[A.charCodeAt(C)],c=H[A.charCodeAt(C+1)],F=H[A.charCodeAt(C+2)],e=H[A.charCodeAt(C+3)];g[Q]=E<<2|c>>4,Q+=1,g[Q]=(c&15)<<4|F>>2,Q+=1,g[Q]=(F&3)<<6|e&63,Q+=1}return g}var J=16*1024,G=4,qA=new D,z=new Map;function JA(A,I){return M(this,void 0,void 0,function*(){let B=null,g=null,Q=!1;if(typeof WebAssembly>"u")throw new Error("WebAssembly is not supported in this environment!");let C=(i,o=0)=>{g.set(i,o)},E=()=>g,c=()=>B.exports,F=i=>{B.exports.Hash_SetMemorySize(i);let o=B.exports.Hash_GetBuffer(),t=B.exports.memory.buffer;g=new Uint8Array(t,o,i)},e=()=>new DataView(B.exports.memory.buffer).getUint32(B.exports.STATE_SIZE,!0),a=qA.dispatch(()=>M(this,void 0,void 0,function*(){if(!z.has(A.name)){let o=sA(A.data),t=WebAssembly.compile(o.buffer);z.set(A.name,t)}let i=yield z.get(A.name);B=yield WebAssembly.instantiate(i,{})})),h=()=>M(this,void 0,void 0,function*(){B||(yield a);let i=B.exports.Hash_GetBuffer(),o=B.exports.memory.buffer;g=new Uint8Array(o,i,J)}),w=(i=null)=>{Q=!0,B.exports.Hash_Init(i)},r=i=>{let o=0;for(;o<i.length;){let t=i.subarray(o,o+J);o+=t.length,g.set(t),B.exports.Hash_Update(t.length)}},S=i=>{if(!Q)throw new Error("update() called before init()");let o=QA(i);r(o)},d=new Uint8Array(I*2),Z=(i,o=null)=>{if(!Q)throw new Error("digest() called before init()");return Q=!1,B.exports.Hash_Final(o),i==="binary"?g.slice(0,I):gA(d,g,I)},FA=()=>{if(!Q)throw new Error("save() can only be called after init() and before digest()");let i=B.exports.Hash_GetState(),o=e(),t=B.exports.memory.buffer,U=new Uint8Array(t,i,o),y=new Uint8Array(G+o);return GA(y,A.hash),y.set(U,G),y},DA=i=>{if(!(i instanceof Uint8Array))throw new Error("load() expects an Uint8Array generated by save()");let o=B.exports.Hash_GetState(),t=e(),U=G+t,y=B.exports.memory.buffer;if(i.length!==U)throw new Error(`Bad state length (expected ${U} bytes, got ${i.length})`);if(!HA(A.hash,i.subarray(0,G)))throw new Error("This state was written by an incompatible hash implementation");let aA=i.subarray(G);new Uint8Array(y,o,t).set(aA),Q=!0},K=i=>typeof i=="string"?i.length<J/4:i.byteLength<J,k=K;switch(A.name){case"argon2":case"scrypt":k=()=>!0;break;case"blake2b":case"blake2s":k=(i,o)=>o<=512&&K(i);break;case"blake3":k=(i,o)=>o===0&&K(i);break;case"xxhash64":case"xxhash3":case"xxhash128":case"crc64":k=()=>!1;break}let eA=(i,o=null,t=null)=>{if(!k(i,o))return w(o),S(i),Z("hex",t);let U=QA(i);return g.set(U),B.exports.Hash_Calculate(U.length,o,t),gA(d,g,I)};return yield h(),{getMemory:E,writeMemory:C,getExports:c,setMemorySize:F,init:w,update:S,digest:Z,save:FA,load:DA,calculate:eA,hashLength:I}})}var TA=new D;var jA=new D;var $A=new DataView(new ArrayBuffer(4));var _A=new D;var AI=new D;var II=new D;var BI=new D;var gI=new Uint8Array(8);var QI=new D;var CI=new D;var iI=new D;var EI=new D;var cI=new D;var MA="sha256",KA="AGFzbQEAAAABEQRgAAF/YAF/AGAAAGACf38AAwgHAAEBAQIAAwUEAQECAgYPAn8BQYCABAt/AEGAgAQLB4IBCQZtZW1vcnkCAA9fX3N0YWNrX3BvaW50ZXIDAA5IYXNoX0dldEJ1ZmZlcgAACUhhc2hfSW5pdAABC0hhc2hfVXBkYXRlAAIKSGFzaF9GaW5hbAAEDUhhc2hfR2V0U3RhdGUABQ5IYXNoX0NhbGN1bGF0ZQAGClNUQVRFX1NJWkUDAQqGSQcGAEGAgQQLnQEAQQBCADcDwIEFQQBBHEEgIABB4AFGIgAbNgLogQVBAEKnn+anxvST/b5/Qquzj/yRo7Pw2wAgABs3A+CBBUEAQrGWgP6fooWs6ABC/6S5iMWR2oKbfyAAGzcD2IEFQQBCl7rDg5Onlod3QvLmu+Ojp/2npX8gABs3A9CBBUEAQti9loj8oLW+NkLnzKfQ1tDrs7t/IAAbNwPIgQUL9wICAX4Hf0EAQQApA8CBBSIBIACtfDcDwIEFAkACQAJAIAGnQT9xIgINAEGAgQQhAwwBCyAAQcAAIAJrIgRJIQUCQCAARQ0AIAAgBCAFGyIDQQNxIQYgAkGAgQVqIQdBACECAkAgA0EESQ0AIANB/ABxIQhBACECA0AgByACaiIDIAJBgIEEai0AADoAACADQQFqIAJBgYEEai0AADoAACADQQJqIAJBgoEEai0AADoAACADQQNqIAJBg4EEai0AADoAACAIIAJBBGoiAkcNAAsgBkUNAQsDQCAHIAJqIAJBgIEEai0AADoAACACQQFqIQIgBkF/aiIGDQALCyAFDQFBgIEFEAMgACAEayEAIARBgIEEaiEDCwJAIABBwABJDQADQCADEAMgA0HAAGohAyAAQUBqIgBBP0sNAAsLIABFDQBBACEGQQAhAgNAIAJBgIEFaiADIAJqLQAAOgAAIAJBAWohAiAAIAZBAWoiBkH/AXFLDQALCwuDPQFFf0EAIAAoAjwiAUH/gfwHcUEIeCABQRh4Qf+B/AdxciIBQRl3IAFBDndzIAFBA3ZzIAAoAjgiAkH/gfwHcUEIeCACQRh4Qf+B/AdxciICaiAAKAIgIgNB/4H8B3FBCHggA0EYeEH/gfwHcXIiBEEZdyAEQQ53cyAEQQN2cyAAKAIcIgNB/4H8B3FBCHggA0EYeEH/gfwHcXIiBWogACgCBCIDQf+B/AdxQQh4IANBGHhB/4H8B3FyIgZBGXcgBkEOd3MgBkEDdnMgACgCACIDQf+B/AdxQQh4IANBGHhB/4H8B3FyIgdqIAAoAiQiA0H/gfwHcUEIeCADQRh4Qf+B/AdxciIIaiACQQ93IAJBDXdzIAJBCnZzaiIDaiAAKAIYIglB/4H8B3FBCHggCUEYeEH/gfwHcXIiCkEZdyAKQQ53cyAKQQN2cyAAKAIUIglB/4H8B3FBCHggCUEYeEH/gfwHcXIiC2ogAmogACgCECIJQf+B/AdxQQh4IAlBGHhB/4H8B3FyIgxBGXcgDEEOd3MgDEEDdnMgACgCDCIJQf+B/AdxQQh4IAlBGHhB/4H8B3FyIg1qIAAoAjAiCUH/gfwHcUEIeCAJQRh4Qf+B/AdxciIOaiAAKAIIIglB/4H8B3FBCHggCUEYeEH/gfwHcXIiD0EZdyAPQQ53cyAPQQN2cyAGaiAAKAIoIglB/4H8B3FBCHggCUEYeEH/gfwHcXIiEGogAUEPdyABQQ13cyABQQp2c2oiCUEPdyAJQQ13cyAJQQp2c2oiEUEPdyARQQ13cyARQQp2c2oiEkEPdyASQQ13cyASQQp2c2oiE2ogACgCNCIUQf+B/AdxQQh4IBRBGHhB/4H8B3FyIhVBGXcgFUEOd3MgFUEDdnMgDmogEmogACgCLCIAQf+B/AdxQQh4IABBGHhB/4H8B3FyIhZBGXcgFkEOd3MgFkEDdnMgEGogEWogCEEZdyAIQQ53cyAIQQN2cyAEaiAJaiAFQRl3IAVBDndzIAVBA3ZzIApqIAFqIAtBGXcgC0EOd3MgC0EDdnMgDGogFWogDUEZdyANQQ53cyANQQN2cyAPaiAWaiADQQ93IANBDXdzIANBCnZzaiIUQQ93IBRBDXdzIBRBCnZzaiIXQQ93IBdBDXdzIBdBCnZzaiIYQQ93IBhBDXdzIBhBCnZzaiIZQQ93IBlBDXdzIBlBCnZzaiIaQQ93IBpBDXdzIBpBCnZzaiIbQQ93IBtBDXdzIBtBCnZzaiIcQRl3IBxBDndzIBxBA3ZzIAJBGXcgAkEOd3MgAkEDdnMgFWogGGogDkEZdyAOQQ53cyAOQQN2cyAWaiAXaiAQQRl3IBBBDndzIBBBA3ZzIAhqIBRqIBNBD3cgE0ENd3MgE0EKdnNqIh1BD3cgHUENd3MgHUEKdnNqIh5BD3cgHkENd3MgHkEKdnNqIh9qIBNBGXcgE0EOd3MgE0EDdnMgGGogA0EZdyADQQ53cyADQQN2cyABaiAZaiAfQQ93IB9BDXdzIB9BCnZzaiIgaiASQRl3IBJBDndzIBJBA3ZzIBdqIB9qIBFBGXcgEUEOd3MgEUEDdnMgFGogHmogCUEZdyAJQQ53cyAJQQN2cyADaiAdaiAcQQ93IBxBDXdzIBxBCnZzaiIhQQ93ICFBDXdzICFBCnZzaiIiQQ93ICJBDXdzICJBCnZzaiIjQQ93ICNBDXdzICNBCnZzaiIkaiAbQRl3IBtBDndzIBtBA3ZzIB5qICNqIBpBGXcgGkEOd3MgGkEDdnMgHWogImogGUEZdyAZQQ53cyAZQQN2cyATaiAhaiAYQRl3IBhBDndzIBhBA3ZzIBJqIBxqIBdBGXcgF0EOd3MgF0EDdnMgEWogG2ogFEEZdyAUQQ53cyAUQQN2cyAJaiAaaiAgQQ93ICBBDXdzICBBCnZzaiIlQQ93ICVBDXdzICVBCnZzaiImQQ93ICZBDXdzICZBCnZzaiInQQ93ICdBDXdzICdBCnZzaiIoQQ93IChBDXdzIChBCnZzaiIpQQ93IClBDXdzIClBCnZzaiIqQQ93ICpBDXdzICpBCnZzaiIrQRl3ICtBDndzICtBA3ZzIB9BGXcgH0EOd3MgH0EDdnMgG2ogJ2ogHkEZdyAeQQ53cyAeQQN2cyAaaiAmaiAdQRl3IB1BDndzIB1BA3ZzIBlqICVqICRBD3cgJEENd3MgJEEKdnNqIixBD3cgLEENd3MgLEEKdnNqIi1BD3cgLUENd3MgLUEKdnNqIi5qICRBGXcgJEEOd3MgJEEDdnMgJ2ogIEEZdyAgQQ53cyAgQQN2cyAcaiAoaiAuQQ93IC5BDXdzIC5BCnZzaiIvaiAjQRl3ICNBDndzICNBA3ZzICZqIC5qICJBGXcgIkEOd3MgIkEDdnMgJWogLWogIUEZdyAhQQ53cyAhQQN2cyAgaiAsaiArQQ93ICtBDXdzICtBCnZzaiIwQQ93IDBBDXdzIDBBCnZzaiIxQQ93IDFBDXdzIDFBCnZzaiIyQQ93IDJBDXdzIDJBCnZzaiIzaiAqQRl3ICpBDndzICpBA3ZzIC1qIDJqIClBGXcgKUEOd3MgKUEDdnMgLGogMWogKEEZdyAoQQ53cyAoQQN2cyAkaiAwaiAnQRl3ICdBDndzICdBA3ZzICNqICtqICZBGXcgJkEOd3MgJkEDdnMgImogKmogJUEZdyAlQQ53cyAlQQN2cyAhaiApaiAvQQ93IC9BDXdzIC9BCnZzaiI0QQ93IDRBDXdzIDRBCnZzaiI1QQ93IDVBDXdzIDVBCnZzaiI2QQ93IDZBDXdzIDZBCnZzaiI3QQ93IDdBDXdzIDdBCnZzaiI4QQ93IDhBDXdzIDhBCnZzaiI5QQ93IDlBDXdzIDlBCnZzaiI6IDggNCAuICwgISAbIBkgAyAOIARBACgC2IEFIjtBGncgO0EVd3MgO0EHd3NBACgC5IEFIjxqQQAoAuCBBSI9QQAoAtyBBSI+cyA7cSA9c2ogB2pBmN+olARqIgdBACgC1IEFIj9qIgAgDGogOyANaiA+IA9qID0gBmogACA+IDtzcSA+c2ogAEEadyAAQRV3cyAAQQd3c2pBkYndiQdqIkBBACgC0IEFIkFqIgwgACA7c3EgO3NqIAxBGncgDEEVd3MgDEEHd3NqQc/3g657aiJCQQAoAsyBBSJDaiINIAwgAHNxIABzaiANQRp3IA1BFXdzIA1BB3dzakGlt9fNfmoiREEAKALIgQUiAGoiDyANIAxzcSAMc2ogD0EadyAPQRV3cyAPQQd3c2pB24TbygNqIkUgQSBDIABzcSBDIABxcyAAQR53IABBE3dzIABBCndzaiAHaiIGaiIHaiAFIA9qIAogDWogCyAMaiAHIA8gDXNxIA1zaiAHQRp3IAdBFXdzIAdBB3dzakHxo8TPBWoiCiAGIABzIENxIAYgAHFzIAZBHncgBkETd3MgBkEKd3NqIEBqIgxqIgQgByAPc3EgD3NqIARBGncgBEEVd3MgBEEHd3NqQaSF/pF5aiILIAwgBnMgAHEgDCAGcXMgDEEedyAMQRN3cyAMQQp3c2ogQmoiDWoiDyAEIAdzcSAHc2ogD0EadyAPQRV3cyAPQQd3c2pB1b3x2HpqIkAgDSAMcyAGcSANIAxxcyANQR53IA1BE3dzIA1BCndzaiBEaiIGaiIHIA8gBHNxIARzaiAHQRp3IAdBFXdzIAdBB3dzakGY1Z7AfWoiQiAGIA1zIAxxIAYgDXFzIAZBHncgBkETd3MgBkEKd3NqIEVqIgxqIgVqIBYgB2ogECAPaiAIIARqIAUgByAPc3EgD3NqIAVBGncgBUEVd3MgBUEHd3NqQYG2jZQBaiIIIAwgBnMgDXEgDCAGcXMgDEEedyAMQRN3cyAMQQp3c2ogCmoiDWoiDyAFIAdzcSAHc2ogD0EadyAPQRV3cyAPQQd3c2pBvovGoQJqIg4gDSAMcyAGcSANIAxxcyANQR53IA1BE3dzIA1BCndzaiALaiIGaiIHIA8gBXNxIAVzaiAHQRp3IAdBFXdzIAdBB3dzakHD+7GoBWoiECAGIA1zIAxxIAYgDXFzIAZBHncgBkETd3MgBkEKd3NqIEBqIgxqIgQgByAPc3EgD3NqIARBGncgBEEVd3MgBEEHd3NqQfS6+ZUHaiIWIAwgBnMgDXEgDCAGcXMgDEEedyAMQRN3cyAMQQp3c2ogQmoiDWoiBWogASAEaiACIAdqIBUgD2ogBSAEIAdzcSAHc2ogBUEadyAFQRV3cyAFQQd3c2pB/uP6hnhqIgcgDSAMcyAGcSANIAxxcyANQR53IA1BE3dzIA1BCndzaiAIaiIBaiIGIAUgBHNxIARzaiAGQRp3IAZBFXdzIAZBB3dzakGnjfDeeWoiBCABIA1zIAxxIAEgDXFzIAFBHncgAUETd3MgAUEKd3NqIA5qIgJqIgwgBiAFc3EgBXNqIAxBGncgDEEVd3MgDEEHd3NqQfTi74x8aiIFIAIgAXMgDXEgAiABcXMgAkEedyACQRN3cyACQQp3c2ogEGoiA2oiDSAMIAZzcSAGc2ogDUEadyANQRV3cyANQQd3c2pBwdPtpH5qIgggAyACcyABcSADIAJxcyADQR53IANBE3dzIANBCndzaiAWaiIBaiIPIBdqIBEgDWogFCAMaiAJIAZqIA8gDSAMc3EgDHNqIA9BGncgD0EVd3MgD0EHd3NqQYaP+f1+aiIGIAEgA3MgAnEgASADcXMgAUEedyABQRN3cyABQQp3c2ogB2oiAmoiCSAPIA1zcSANc2ogCUEadyAJQRV3cyAJQQd3c2pBxruG/gBqIgwgAiABcyADcSACIAFxcyACQR53IAJBE3dzIAJBCndzaiAEaiIDaiIRIAkgD3NxIA9zaiARQRp3IBFBFXdzIBFBB3dzakHMw7KgAmoiDSADIAJzIAFxIAMgAnFzIANBHncgA0ETd3MgA0EKd3NqIAVqIgFqIhQgESAJc3EgCXNqIBRBGncgFEEVd3MgFEEHd3NqQe/YpO8CaiIPIAEgA3MgAnEgASADcXMgAUEedyABQRN3cyABQQp3c2ogCGoiAmoiF2ogEyAUaiAYIBFqIBIgCWogFyAUIBFzcSARc2ogF0EadyAXQRV3cyAXQQd3c2pBqonS0wRqIhggAiABcyADcSACIAFxcyACQR53IAJBE3dzIAJBCndzaiAGaiIDaiIJIBcgFHNxIBRzaiAJQRp3IAlBFXdzIAlBB3dzakHc08LlBWoiFCADIAJzIAFxIAMgAnFzIANBHncgA0ETd3MgA0EKd3NqIAxqIgFqIhEgCSAXc3EgF3NqIBFBGncgEUEVd3MgEUEHd3NqQdqR5rcHaiIXIAEgA3MgAnEgASADcXMgAUEedyABQRN3cyABQQp3c2ogDWoiAmoiEiARIAlzcSAJc2ogEkEadyASQRV3cyASQQd3c2pB0qL5wXlqIhkgAiABcyADcSACIAFxcyACQR53IAJBE3dzIAJBCndzaiAPaiIDaiITaiAeIBJqIBogEWogHSAJaiATIBIgEXNxIBFzaiATQRp3IBNBFXdzIBNBB3dzakHtjMfBemoiGiADIAJzIAFxIAMgAnFzIANBHncgA0ETd3MgA0EKd3NqIBhqIgFqIgkgEyASc3EgEnNqIAlBGncgCUEVd3MgCUEHd3NqQcjPjIB7aiIYIAEgA3MgAnEgASADcXMgAUEedyABQRN3cyABQQp3c2ogFGoiAmoiESAJIBNzcSATc2ogEUEadyARQRV3cyARQQd3c2pBx//l+ntqIhQgAiABcyADcSACIAFxcyACQR53IAJBE3dzIAJBCndzaiAXaiIDaiISIBEgCXNxIAlzaiASQRp3IBJBFXdzIBJBB3dzakHzl4C3fGoiFyADIAJzIAFxIAMgAnFzIANBHncgA0ETd3MgA0EKd3NqIBlqIgFqIhNqICAgEmogHCARaiAfIAlqIBMgEiARc3EgEXNqIBNBGncgE0EVd3MgE0EHd3NqQceinq19aiIZIAEgA3MgAnEgASADcXMgAUEedyABQRN3cyABQQp3c2ogGmoiAmoiCSATIBJzcSASc2ogCUEadyAJQRV3cyAJQQd3c2pB0capNmoiGiACIAFzIANxIAIgAXFzIAJBHncgAkETd3MgAkEKd3NqIBhqIgNqIhEgCSATc3EgE3NqIBFBGncgEUEVd3MgEUEHd3NqQefSpKEBaiIYIAMgAnMgAXEgAyACcXMgA0EedyADQRN3cyADQQp3c2ogFGoiAWoiEiARIAlzcSAJc2ogEkEadyASQRV3cyASQQd3c2pBhZXcvQJqIhQgASADcyACcSABIANxcyABQR53IAFBE3dzIAFBCndzaiAXaiICaiITICNqICYgEmogIiARaiAlIAlqIBMgEiARc3EgEXNqIBNBGncgE0EVd3MgE0EHd3NqQbjC7PACaiIXIAIgAXMgA3EgAiABcXMgAkEedyACQRN3cyACQQp3c2ogGWoiA2oiCSATIBJzcSASc2ogCUEadyAJQRV3cyAJQQd3c2pB/Nux6QRqIhkgAyACcyABcSADIAJxcyADQR53IANBE3dzIANBCndzaiAaaiIBaiIRIAkgE3NxIBNzaiARQRp3IBFBFXdzIBFBB3dzakGTmuCZBWoiGiABIANzIAJxIAEgA3FzIAFBHncgAUETd3MgAUEKd3NqIBhqIgJqIhIgESAJc3EgCXNqIBJBGncgEkEVd3MgEkEHd3NqQdTmqagGaiIYIAIgAXMgA3EgAiABcXMgAkEedyACQRN3cyACQQp3c2ogFGoiA2oiE2ogKCASaiAkIBFqICcgCWogEyASIBFzcSARc2ogE0EadyATQRV3cyATQQd3c2pBu5WoswdqIhQgAyACcyABcSADIAJxcyADQR53IANBE3dzIANBCndzaiAXaiIBaiIJIBMgEnNxIBJzaiAJQRp3IAlBFXdzIAlBB3dzakGukouOeGoiFyABIANzIAJxIAEgA3FzIAFBHncgAUETd3MgAUEKd3NqIBlqIgJqIhEgCSATc3EgE3NqIBFBGncgEUEVd3MgEUEHd3NqQYXZyJN5aiIZIAIgAXMgA3EgAiABcXMgAkEedyACQRN3cyACQQp3c2ogGmoiA2oiEiARIAlzcSAJc2ogEkEadyASQRV3cyASQQd3c2pBodH/lXpqIhogAyACcyABcSADIAJxcyADQR53IANBE3dzIANBCndzaiAYaiIBaiITaiAqIBJqIC0gEWogKSAJaiATIBIgEXNxIBFzaiATQRp3IBNBFXdzIBNBB3dzakHLzOnAemoiGCABIANzIAJxIAEgA3FzIAFBHncgAUETd3MgAUEKd3NqIBRqIgJqIgkgEyASc3EgEnNqIAlBGncgCUEVd3MgCUEHd3NqQfCWrpJ8aiIUIAIgAXMgA3EgAiABcXMgAkEedyACQRN3cyACQQp3c2ogF2oiA2oiESAJIBNzcSATc2ogEUEadyARQRV3cyARQQd3c2pBo6Oxu3xqIhcgAyACcyABcSADIAJxcyADQR53IANBE3dzIANBCndzaiAZaiIBaiISIBEgCXNxIAlzaiASQRp3IBJBFXdzIBJBB3dzakGZ0MuMfWoiGSABIANzIAJxIAEgA3FzIAFBHncgAUETd3MgAUEKd3NqIBpqIgJqIhNqIDAgEmogLyARaiArIAlqIBMgEiARc3EgEXNqIBNBGncgE0EVd3MgE0EHd3NqQaSM5LR9aiIaIAIgAXMgA3EgAiABcXMgAkEedyACQRN3cyACQQp3c2ogGGoiA2oiCSATIBJzcSASc2ogCUEadyAJQRV3cyAJQQd3c2pBheu4oH9qIhggAyACcyABcSADIAJxcyADQR53IANBE3dzIANBCndzaiAUaiIBaiIRIAkgE3NxIBNzaiARQRp3IBFBFXdzIBFBB3dzakHwwKqDAWoiFCABIANzIAJxIAEgA3FzIAFBHncgAUETd3MgAUEKd3NqIBdqIgJqIhIgESAJc3EgCXNqIBJBGncgEkEVd3MgEkEHd3NqQZaCk80BaiIXIAIgAXMgA3EgAiABcXMgAkEedyACQRN3cyACQQp3c2ogGWoiA2oiEyA2aiAyIBJqIDUgEWogMSAJaiATIBIgEXNxIBFzaiATQRp3IBNBFXdzIBNBB3dzakGI2N3xAWoiGSADIAJzIAFxIAMgAnFzIANBHncgA0ETd3MgA0EKd3NqIBpqIgFqIgkgEyASc3EgEnNqIAlBGncgCUEVd3MgCUEHd3NqQczuoboCaiIaIAEgA3MgAnEgASADcXMgAUEedyABQRN3cyABQQp3c2ogGGoiAmoiESAJIBNzcSATc2ogEUEadyARQRV3cyARQQd3c2pBtfnCpQNqIhggAiABcyADcSACIAFxcyACQR53IAJBE3dzIAJBCndzaiAUaiIDaiISIBEgCXNxIAlzaiASQRp3IBJBFXdzIBJBB3dzakGzmfDIA2oiFCADIAJzIAFxIAMgAnFzIANBHncgA0ETd3MgA0EKd3NqIBdqIgFqIhNqICxBGXcgLEEOd3MgLEEDdnMgKGogNGogM0EPdyAzQQ13cyAzQQp2c2oiFyASaiA3IBFqIDMgCWogEyASIBFzcSARc2ogE0EadyATQRV3cyATQQd3c2pBytTi9gRqIhsgASADcyACcSABIANxcyABQR53IAFBE3dzIAFBCndzaiAZaiICaiIJIBMgEnNxIBJzaiAJQRp3IAlBFXdzIAlBB3dzakHPlPPcBWoiGSACIAFzIANxIAIgAXFzIAJBHncgAkETd3MgAkEKd3NqIBpqIgNqIhEgCSATc3EgE3NqIBFBGncgEUEVd3MgEUEHd3NqQfPfucEGaiIaIAMgAnMgAXEgAyACcXMgA0EedyADQRN3cyADQQp3c2ogGGoiAWoiEiARIAlzcSAJc2ogEkEadyASQRV3cyASQQd3c2pB7oW+pAdqIhwgASADcyACcSABIANxcyABQR53IAFBE3dzIAFBCndzaiAUaiICaiITaiAuQRl3IC5BDndzIC5BA3ZzICpqIDZqIC1BGXcgLUEOd3MgLUEDdnMgKWogNWogF0EPdyAXQQ13cyAXQQp2c2oiFEEPdyAUQQ13cyAUQQp2c2oiGCASaiA5IBFqIBQgCWogEyASIBFzcSARc2ogE0EadyATQRV3cyATQQd3c2pB78aVxQdqIgkgAiABcyADcSACIAFxcyACQR53IAJBE3dzIAJBCndzaiAbaiIDaiIRIBMgEnNxIBJzaiARQRp3IBFBFXdzIBFBB3dzakGU8KGmeGoiGyADIAJzIAFxIAMgAnFzIANBHncgA0ETd3MgA0EKd3NqIBlqIgFqIhIgESATc3EgE3NqIBJBGncgEkEVd3MgEkEHd3NqQYiEnOZ4aiIZIAEgA3MgAnEgASADcXMgAUEedyABQRN3cyABQQp3c2ogGmoiAmoiEyASIBFzcSARc2ogE0EadyATQRV3cyATQQd3c2pB+v/7hXlqIhogAiABcyADcSACIAFxcyACQR53IAJBE3dzIAJBCndzaiAcaiIDaiIUIDxqNgLkgQVBACA/IAMgAnMgAXEgAyACcXMgA0EedyADQRN3cyADQQp3c2ogCWoiASADcyACcSABIANxcyABQR53IAFBE3dzIAFBCndzaiAbaiICIAFzIANxIAIgAXFzIAJBHncgAkETd3MgAkEKd3NqIBlqIgMgAnMgAXEgAyACcXMgA0EedyADQRN3cyADQQp3c2ogGmoiCWo2AtSBBUEAID0gL0EZdyAvQQ53cyAvQQN2cyAraiA3aiAYQQ93IBhBDXdzIBhBCnZzaiIYIBFqIBQgEyASc3EgEnNqIBRBGncgFEEVd3MgFEEHd3NqQevZwaJ6aiIZIAFqIhFqNgLggQVBACBBIAkgA3MgAnEgCSADcXMgCUEedyAJQRN3cyAJQQp3c2ogGWoiAWo2AtCBBUEAID4gMEEZdyAwQQ53cyAwQQN2cyAvaiAXaiA6QQ93IDpBDXdzIDpBCnZzaiASaiARIBQgE3NxIBNzaiARQRp3IBFBFXdzIBFBB3dzakH3x+b3e2oiFyACaiISajYC3IEFQQAgQyABIAlzIANxIAEgCXFzIAFBHncgAUETd3MgAUEKd3NqIBdqIgJqNgLMgQVBACA7IDRBGXcgNEEOd3MgNEEDdnMgMGogOGogGEEPdyAYQQ13cyAYQQp2c2ogE2ogEiARIBRzcSAUc2ogEkEadyASQRV3cyASQQd3c2pB8vHFs3xqIhEgA2pqNgLYgQVBACAAIAIgAXMgCXEgAiABcXMgAkEedyACQRN3cyACQQp3c2ogEWpqNgLIgQULswYCBH8BfkEAKALAgQUiAEECdkEPcSIBQQJ0IgIgAigCgIEFQX8gAEEDdCIAdEF/c3FBgAEgAHRzNgKAgQUCQAJAAkAgAUEOSQ0AAkAgAUEORw0AQQBBADYCvIEFC0GAgQUQA0EAIQIMAQsgAUENRg0BIAFBAWohAgsgAiEDAkBBBiACa0EHcSIARQ0AIAIgAGohAyACQQJ0QYCBBWohAQNAIAFBADYCACABQQRqIQEgAEF/aiIADQALCyACQXlqQQdJDQACQEEGIANrIgBBCHENACADQQJ0IgFCADcCmIEFIAFCADcCkIEFIAFCADcCiIEFIAFCADcCgIEFIABBCEkNASADQQhqIQMLIANBAnRBgIEFaiEBA0AgAUIANwIAIAFBOGpCADcCACABQTBqQgA3AgAgAUEoakIANwIAIAFBIGpCADcCACABQRhqQgA3AgAgAUEQakIANwIAIAFBCGpCADcCACABQcAAaiEBDAALC0EAIQBBAEEAKQPAgQUiBKdBA3QiAUH4gfwHcUEIeCABQRh4Qf+B/AdxcjYCvIEFQQAgBEIdiKciAUH/gfwHcUEIeCABQRh4Qf+B/AdxcjYCuIEFQYCBBRADQQBBACgC5IEFIgFB/4H8B3FBCHggAUEYeEH/gfwHcXI2AuSBBUEAQQAoAuCBBSIBQf+B/AdxQQh4IAFBGHhB/4H8B3FyNgLggQVBAEEAKALcgQUiAUH/gfwHcUEIeCABQRh4Qf+B/AdxcjYC3IEFQQBBACgC2IEFIgFB/4H8B3FBCHggAUEYeEH/gfwHcXI2AtiBBUEAQQAoAtSBBSIBQf+B/AdxQQh4IAFBGHhB/4H8B3FyNgLUgQVBAEEAKALQgQUiAUH/gfwHcUEIeCABQRh4Qf+B/AdxcjYC0IEFQQBBACgCzIEFIgFB/4H8B3FBCHggAUEYeEH/gfwHcXI2AsyBBUEAQQAoAsiBBSIBQf+B/AdxQQh4IAFBGHhB/4H8B3FyNgLIgQUCQEEAKALogQUiAkUNAEEAIQEDQCABQYCBBGogAUHIgQVqLQAAOgAAIAFBAWohASACIABBAWoiAEH/AXFLDQALCwsGAEGAgQULowEAQQBCADcDwIEFQQBBHEEgIAFB4AFGIgEbNgLogQVBAEKnn+anxvST/b5/Qquzj/yRo7Pw2wAgARs3A+CBBUEAQrGWgP6fooWs6ABC/6S5iMWR2oKbfyABGzcD2IEFQQBCl7rDg5Onlod3QvLmu+Ojp/2npX8gARs3A9CBBUEAQti9loj8oLW+NkLnzKfQ1tDrs7t/IAEbNwPIgQUgABACEAQLCwwBAEGAgAQLBHAAAAA=",pA="8ed695a3",RA={name:MA,data:KA,hash:pA},oI=new D;var hI=new D;function EA(){return JA(RA,32).then(A=>{A.init(256);let I={init:()=>(A.init(256),I),update:B=>(A.update(B),I),digest:B=>A.digest(B),save:()=>A.save(),load:B=>(A.load(B),I),blockSize:64,digestSize:32};return I})}var FI=new D;var DI=new D;var eI=new D;var aI=new D;var tI=new Uint8Array(8);var nI=new D;var wI=new Uint8Array(8);var rI=new D;var fI=new Uint8Array(8);var UI=new D;var dI=new D;var SI=new D;function cA(A){let I=A?.userAgentData?.brands;return Array.isArray(I)&&I.length>0?I.some(({brand:B})=>/Chromium/.test(B)):/\\b(Headless)?Chrome\\/\\d/.test(A?.userAgent??"")}async function YA(){try{let A=await EA();return A.init(),{update:I=>{A.update(I)},hex:()=>A.digest("hex")}}catch{let A=AA.create();return{update:I=>{A.update(I)},hex:()=>l(A.digest())}}}var m=4*1024*1024;async function oA(A,I=async()=>{},B=cA(globalThis.navigator)){let g=await YA(),Q=0;for await(let C of B?lA(A):uA(A))g.update(C),Q+=C.byteLength,Q>=m&&(Q=0,await I());return g.hex()}async function*lA(A){let I=A.stream().getReader();for(;;){let{done:B,value:g}=await I.read();if(B)return;yield g}}async function*uA(A){let I=A.size,B=Q=>{let C=A.slice(Q,Math.min(Q+m,I)).arrayBuffer();return C.catch(()=>{}),C},g=I>0?B(0):null;for(let Q=0;g!==null;){let C=await g;Q+=m,g=Q<I?B(Q):null,yield new Uint8Array(C)}}var xA=32*1024*1024;async function hA(A,I){let B=globalThis.crypto?.subtle;if(A.size<=xA&&typeof B?.digest=="function"){let g=await A.arrayBuffer(),Q;try{Q=await B.digest("SHA-256",g)}catch{return oA(A,I)}return l(new Uint8Array(Q))}return oA(A,I)}self.onmessage=async A=>{let{id:I,blob:B}=A.data;try{self.postMessage({id:I,sha256:await hA(B)})}catch(g){self.postMessage({id:I,error:String(g?.message??g)})}};})();\n' : null;
  async function hashFile(blob) {
    const worker = hashWorker();
    if (worker) {
      try {
        return await worker.hash(blob);
      } catch (error) {
        if (error instanceof FileError) throw error;
      }
    }
    return sha256OfFile(blob, yieldToPage);
  }
  var FileError = class extends Error {
  };
  function yieldToPage() {
    return new Promise((resolve) => setTimeout(resolve, 0));
  }
  var sharedWorker;
  function hashWorker() {
    if (sharedWorker !== void 0) return sharedWorker;
    sharedWorker = null;
    if (WORKER_SOURCE === null || typeof Worker !== "function" || typeof URL?.createObjectURL !== "function") return null;
    let worker;
    try {
      const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
      worker = new Worker(url);
    } catch {
      return null;
    }
    const jobs = /* @__PURE__ */ new Map();
    let nextId = 1;
    const failAll = (error) => {
      for (const job of jobs.values()) job.reject(error);
      jobs.clear();
      sharedWorker = null;
      worker.terminate();
    };
    worker.onmessage = (event) => {
      const { id, sha256: sha2562, error } = event.data;
      const job = jobs.get(id);
      if (!job) return;
      jobs.delete(id);
      if (typeof sha2562 === "string") job.resolve(sha2562);
      else job.reject(new FileError(error));
    };
    worker.onerror = (event) => {
      event.preventDefault?.();
      failAll(new Error("the hashing worker failed"));
    };
    sharedWorker = {
      hash: (blob) => new Promise((resolve, reject) => {
        const id = nextId++;
        jobs.set(id, { resolve, reject });
        worker.postMessage({ id, blob });
      })
    };
    return sharedWorker;
  }

  // src/resume_store.js
  var DATABASE = "incoming-resume";
  var OBJECT_STORE = "uploads";
  var LOCAL_STORAGE_PREFIX = "incoming-resume:";
  function fileFingerprint(file) {
    if (typeof file?.name !== "string" || typeof file.lastModified !== "number") return null;
    return JSON.stringify([file.name, file.size, file.lastModified]);
  }
  var ResumeStore = class {
    /** @type {() => Promise<KeyValueStorage | null>} */
    #openStorage;
    /** @type {Promise<KeyValueStorage | null> | null} */
    #storage = null;
    /** Writes and deletes go one after another, so a late write never revives a forgotten upload. */
    #queue = Promise.resolve();
    /** @param {() => Promise<KeyValueStorage | null>} openStorage  called once, on first use */
    constructor(openStorage) {
      this.#openStorage = openStorage;
    }
    #storageOnce() {
      this.#storage ??= this.#openStorage().catch(() => null);
      return this.#storage;
    }
    /**
     * @param {(storage: KeyValueStorage) => Promise<unknown>} operation
     * @returns {Promise<void>} settles when done (never rejects)
     */
    #enqueue(operation) {
      this.#queue = this.#queue.then(async () => {
        const storage = await this.#storageOnce();
        if (storage) await operation(storage);
      }).catch(() => {
      });
      return this.#queue;
    }
    /**
     * @param {Blob} file
     * @param {{ticket: string, url: string | null, bytes_acked: number}} record
     * @param {number} savedAt  wall-clock milliseconds
     */
    remember(file, { ticket, url, bytes_acked }, savedAt) {
      const key = fileFingerprint(file);
      if (key === null) return Promise.resolve();
      return this.#enqueue((storage) => storage.set(key, { ticket, url, bytes_acked, savedAt }));
    }
    /**
     * Forgets the file's record if it is this ticket's (another uploader of the same file may
     * have taken its place since).
     *
     * @param {Blob} file
     * @param {string} ticket
     */
    forget(file, ticket) {
      const key = fileFingerprint(file);
      if (key === null) return Promise.resolve();
      return this.#enqueue(async (storage) => {
        if ((await storage.get(key))?.ticket === ticket) await storage.delete(key);
      });
    }
    /**
     * @param {Blob} file
     * @returns {Promise<ResumeRecord | null>} what is remembered of an unfinished upload of this file
     */
    async find(file) {
      const key = fileFingerprint(file);
      if (key === null) return null;
      await this.#queue;
      try {
        const storage = await this.#storageOnce();
        const record = storage ? await storage.get(key) : void 0;
        return record && typeof record.ticket === "string" ? record : null;
      } catch {
        return null;
      }
    }
  };
  async function openBrowserStorage() {
    try {
      return await openIndexedDb();
    } catch {
      return localStorageBacked();
    }
  }
  function openIndexedDb() {
    return new Promise((resolve, reject) => {
      const request = globalThis.indexedDB.open(DATABASE, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(OBJECT_STORE);
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new Error("IndexedDB blocked"));
      request.onsuccess = () => {
        const db = request.result;
        const run = (mode, act) => new Promise((done, fail) => {
          const transaction = db.transaction(OBJECT_STORE, mode);
          const result = act(transaction.objectStore(OBJECT_STORE));
          transaction.oncomplete = () => done(result.result);
          transaction.onerror = () => fail(transaction.error);
          transaction.onabort = () => fail(transaction.error);
        });
        resolve({
          get: (key) => run("readonly", (store) => store.get(key)),
          set: async (key, value) => {
            await run("readwrite", (store) => store.put(value, key));
          },
          delete: async (key) => {
            await run("readwrite", (store) => store.delete(key));
          }
        });
      };
    });
  }
  function localStorageBacked() {
    let storage;
    try {
      storage = globalThis.localStorage;
    } catch {
      return null;
    }
    if (!storage) return null;
    return {
      get: async (key) => {
        const text = storage.getItem(LOCAL_STORAGE_PREFIX + key);
        return text === null ? void 0 : JSON.parse(text);
      },
      set: async (key, value) => storage.setItem(LOCAL_STORAGE_PREFIX + key, JSON.stringify(value)),
      delete: async (key) => storage.removeItem(LOCAL_STORAGE_PREFIX + key)
    };
  }
  var pageStore = null;
  function browserResumeStore() {
    pageStore ??= new ResumeStore(async () => globalThis.indexedDB ? openBrowserStorage() : localStorageBacked());
    return pageStore;
  }
  async function findResumable(file, { store = browserResumeStore() } = {}) {
    const record = await store.find(file);
    return record && { ticket: record.ticket, bytes_acked: record.bytes_acked, url: record.url };
  }

  // src/environment.js
  function browserEnvironment() {
    return {
      WebSocket: globalThis.WebSocket,
      now: () => performance.now(),
      setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
      clearTimeout: (timer) => globalThis.clearTimeout(
        /** @type {any} */
        timer
      ),
      random: Math.random,
      hashFile,
      resumeStore: browserResumeStore(),
      fetch: typeof globalThis.fetch === "function" ? (input, init) => globalThis.fetch(input, init) : void 0,
      preferHttp: isChromium(globalThis.navigator)
    };
  }

  // src/backoff.js
  var FIRST_RETRY_MS = 1e3;
  var MAX_RETRY_MS = 3e4;
  function reconnectDelay(failures, random) {
    const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** failures);
    return ceiling * (1 + random()) / 2;
  }

  // src/flow_limits.js
  var MIN_IN_FLIGHT_BYTES = 256 * 1024;
  var IN_FLIGHT_SECONDS = 0.75;
  var MESSAGES_IN_FLIGHT = 4;
  function rateBound(bytesPerSecond) {
    return Math.max(MIN_IN_FLIGHT_BYTES, Math.floor(bytesPerSecond * IN_FLIGHT_SECONDS));
  }
  function inFlightLimit(bytesPerSecond, window2) {
    return Math.min(window2, rateBound(bytesPerSecond));
  }
  function messageSize(bytesPerSecond, chunkSize, window2) {
    return Math.min(chunkSize, window2, Math.floor(rateBound(bytesPerSecond) / MESSAGES_IN_FLIGHT));
  }

  // src/http_upload.js
  var FIRST_REQUEST_BYTES = 256 * 1024;
  var REQUEST_GROWTH = 4;
  var MAX_REQUEST_BYTES = 128 * 1024 * 1024;
  var REQUEST_SECONDS = 0.5;
  var POLL_FIRST_MS = 20;
  var POLL_GROWTH = 1.5;
  var POLL_MAX_MS = 5e3;
  var OFFSET_TYPE = "application/offset+octet-stream";
  var CODE_OF_STATUS = { 400: 1, 404: 2, 412: 1, 413: 5, 415: 1, 423: 11 };
  function tusEndpointFor(socketUrl) {
    const url = new URL(socketUrl);
    url.protocol = url.protocol === "wss:" ? "https:" : "http:";
    url.pathname = TUS_PATH;
    url.search = "";
    return url.href;
  }
  function requestBytes(bytesPerSecond, requestsSent) {
    const wanted = bytesPerSecond > 0 ? bytesPerSecond * REQUEST_SECONDS : FIRST_REQUEST_BYTES * REQUEST_GROWTH ** Math.min(requestsSent, 16);
    return Math.round(Math.min(MAX_REQUEST_BYTES, Math.max(FIRST_REQUEST_BYTES, wanted)));
  }
  function base64(text) {
    const bytes = new TextEncoder().encode(text);
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary);
  }
  var HttpAttempt = class {
    /** @type {AbortController} aborts every request of this attempt */
    #abort = new AbortController();
    #closed = false;
    #busy = false;
    #offset = 0;
    #requestsSent = 0;
    #digestDelivered = false;
    #pollDelay = POLL_FIRST_MS;
    /** @type {unknown} */
    #pollTimer = null;
    /** @type {string | null} */
    #lastState = null;
    /**
     * @param {object} o
     * @param {string} o.endpoint  the tus collection URL
     * @param {string} o.ticketId
     * @param {Blob} o.file  the snapshot
     * @param {string} o.filename
     * @param {boolean} o.integrity
     * @param {boolean} o.created  an earlier attempt created the upload: resume with HEAD
     * @param {() => string | null} o.digest  the file's SHA-256, once known
     * @param {() => number} o.rate  measured bytes per second
     * @param {() => boolean} o.paused
     * @param {import('./environment.js').Environment} o.env
     * @param {HttpSink} o.sink
     */
    constructor(o) {
      this.o = o;
      this.uploadUrl = new URL(encodeURIComponent(o.ticketId), o.endpoint).href;
    }
    /** Hello: POST creates (or finds) the upload, HEAD asks where it stands. */
    open() {
      if (this.o.created) void this.#head(true);
      else void this.#create();
    }
    /** Stops every request and timer; nothing more is reported. */
    close() {
      this.#closed = true;
      this.#abort.abort();
      if (this.#pollTimer !== null) this.o.env.clearTimeout(this.#pollTimer);
      this.#pollTimer = null;
    }
    /** Sends the next PATCH if none is on its way. */
    pump() {
      const { file, paused } = this.o;
      if (this.#closed || this.#busy || paused() || this.#offset >= file.size) return;
      const end = Math.min(file.size, this.#offset + requestBytes(this.o.rate(), this.#requestsSent++));
      void this.#patch(this.#offset, end);
    }
    /** The digest became known: after the last byte it still has to reach the server. */
    digestKnown() {
      if (this.#offset === this.o.file.size && !this.#busy && !this.#closed) this.#afterLastByte();
    }
    /** @param {string | null} reason */
    cancel(reason) {
      this.#abort.abort();
      this.#abort = new AbortController();
      this.#busy = true;
      const headers = reason === null ? {} : { "Incoming-Reason": encodeURIComponent(reason) };
      void this.#request("DELETE", this.uploadUrl, headers).then((response) => {
        if (response === null) return;
        this.#busy = false;
        if (response.status === 204) this.o.sink.cancelled(reason);
        else if (response.status === 409) this.#afterLastByte();
        else void this.#refused(response);
      });
    }
    /** @returns {Record<string, string>} */
    #extensionHeaders() {
      const headers = {};
      if (this.o.integrity) headers["Incoming-Integrity"] = "sha256";
      const digest = this.o.integrity ? this.o.digest() : null;
      if (digest !== null) headers["Incoming-Digest"] = `sha256=${digest}`;
      return headers;
    }
    async #create() {
      const headers = {
        "Upload-Length": String(this.o.file.size),
        "Upload-Metadata": `ticket ${base64(this.o.ticketId)},filename ${base64(this.o.filename)}`,
        ...this.#extensionHeaders()
      };
      const response = await this.#request("POST", this.o.endpoint, headers);
      if (response === null) return;
      if (response.status !== 201) return this.#refused(response);
      this.#digestDelivered = "Incoming-Digest" in headers;
      this.#welcome(response);
    }
    /** @param {boolean} hello  the attempt's first request (else a poll after the last byte) */
    async #head(hello) {
      this.#pollTimer = null;
      const response = await this.#request("HEAD", this.uploadUrl, {});
      if (response === null) return;
      if (hello && response.status === 404 && response.headers.get("Incoming-Error") === null) {
        return this.#create();
      }
      if (response.status !== 200) return this.#refused(response);
      if (hello) {
        this.#welcome(response);
        return;
      }
      const state = response.headers.get("Incoming-State") ?? "uploading";
      if (state !== this.#lastState) this.#pollDelay = POLL_FIRST_MS;
      this.#lastState = state;
      const result = response.headers.get("Incoming-Result");
      this.o.sink.state(state, result === null ? void 0 : JSON.parse(result));
      if (!this.#closed) this.#schedulePoll();
    }
    /** @param {Response} response  to a POST or a hello HEAD */
    #welcome(response) {
      const offset = Number(response.headers.get("Upload-Offset"));
      this.#offset = offset;
      this.#lastState = response.headers.get("Incoming-State") ?? "uploading";
      this.o.sink.welcomed(offset, this.#lastState);
    }
    /**
     * @param {number} start
     * @param {number} end
     */
    async #patch(start, end) {
      const headers = { "Upload-Offset": String(start), "Content-Type": OFFSET_TYPE, ...this.#extensionHeaders() };
      if (end > start) this.o.sink.sent(end);
      const response = await this.#request("PATCH", this.uploadUrl, headers, this.o.file.slice(start, end));
      if (response === null) return;
      if (response.status !== 204) return this.#refused(response);
      if ("Incoming-Digest" in headers) this.#digestDelivered = true;
      this.#offset = Number(response.headers.get("Upload-Offset"));
      this.o.sink.acked(this.#offset);
      if (this.#closed) return;
      if (this.#offset === this.o.file.size) this.#afterLastByte();
      else this.pump();
    }
    /** Every byte is in: deliver the digest if the server still waits for it, then poll. */
    #afterLastByte() {
      if (this.o.integrity && !this.#digestDelivered && this.#lastState !== "finished") {
        if (this.o.digest() !== null) void this.#patch(this.#offset, this.#offset);
        return;
      }
      if (this.#pollTimer === null) this.#schedulePoll();
    }
    #schedulePoll() {
      const delay = this.#pollDelay;
      this.#pollDelay = Math.min(POLL_MAX_MS, delay * POLL_GROWTH);
      this.#pollTimer = this.o.env.setTimeout(() => void this.#head(false), delay);
    }
    /**
     * One request; null when it failed (reported as a disconnect) or the attempt is closed.
     *
     * @param {string} method
     * @param {string} url
     * @param {Record<string, string>} headers
     * @param {Blob} [body]
     * @returns {Promise<Response | null>}
     */
    async #request(method, url, headers, body) {
      this.#busy = true;
      const fetch = (
        /** @type {typeof globalThis.fetch} */
        this.o.env.fetch
      );
      const signal = this.#abort.signal;
      let response;
      try {
        response = await fetch(url, {
          method,
          headers: { "Tus-Resumable": "1.0.0", ...headers },
          body,
          signal,
          cache: "no-store"
        });
      } catch {
        if (!this.#closed && !signal.aborted) this.o.sink.disconnected(true);
        return null;
      }
      this.#busy = false;
      return this.#closed ? null : response;
    }
    /** @param {Response} response  any answer but the expected one */
    async #refused(response) {
      const { status, headers } = response;
      const header = headers.get("Incoming-Error");
      const state = headers.get("Incoming-State") ?? void 0;
      const message = (await response.text().catch(() => "")).trim() || `HTTP ${status}`;
      if (this.#closed) return;
      const code = header === null ? CODE_OF_STATUS[
        /** @type {400} */
        status
      ] : Number(header);
      if (code === TICKET_CLOSED && state === "finished") {
        const head = await this.#request("HEAD", this.uploadUrl, {});
        if (head === null) return;
        const result = head.headers.get("Incoming-Result");
        this.o.sink.error(code, message, state, {
          sha256: head.headers.get("Incoming-Sha256"),
          ...result === null ? {} : { result: JSON.parse(result) }
        });
      } else if (code !== void 0) {
        this.o.sink.error(code, message, state);
      } else if (status === 403) {
        this.o.sink.error(LOCAL_ERROR, `the upload server refused this page: ${message}`);
      } else {
        this.o.sink.disconnected(false);
      }
    }
  };

  // src/progress_throttle.js
  var PROGRESS_INTERVAL_MS = 100;
  var ProgressThrottle = class {
    /** @type {import('./environment.js').Environment} */
    #clock;
    /** @type {() => void} */
    #emit;
    #lastEmitAt = -Infinity;
    /** @type {unknown} */
    #trailingTimer = null;
    /**
     * @param {import('./environment.js').Environment} clock
     * @param {() => void} emit
     */
    constructor(clock, emit) {
      this.#clock = clock;
      this.#emit = emit;
    }
    /** Notify now if the interval has passed, otherwise once when it does. */
    request() {
      if (this.#trailingTimer !== null) return;
      const wait = this.#lastEmitAt + PROGRESS_INTERVAL_MS - this.#clock.now();
      if (wait <= 0) {
        this.#fire();
        return;
      }
      this.#trailingTimer = this.#clock.setTimeout(() => {
        this.#trailingTimer = null;
        this.#fire();
      }, wait);
    }
    /** Notify now regardless of the interval: for the moment the last byte is acknowledged. */
    flush() {
      this.cancel();
      this.#fire();
    }
    /** Drop a pending trailing notification: the upload is over. */
    cancel() {
      if (this.#trailingTimer === null) return;
      this.#clock.clearTimeout(this.#trailingTimer);
      this.#trailingTimer = null;
    }
    #fire() {
      this.#lastEmitAt = this.#clock.now();
      this.#emit();
    }
  };

  // src/rate_meter.js
  var MIN_SAMPLE_MS = 100;
  var RISE_MS = 300;
  var FALL_MS = 1e3;
  var RateMeter = class {
    /** Bytes per second, smoothed; 0 until the first sample. */
    bytesPerSecond = 0;
    /** @type {() => number} */
    #now;
    /** @type {{at: number, offset: number} | null} where the current sample started */
    #reference = null;
    /** @param {() => number} now  milliseconds */
    constructor(now) {
      this.#now = now;
    }
    /**
     * Starts a new sample at the next acknowledgement, keeping the rate: after
     * a pause or a reconnection, whose idle time says nothing about the link.
     */
    restart() {
      this.#reference = null;
    }
    /** @param {number} offset  the acknowledged offset, just grown */
    acknowledged(offset) {
      const at = this.#now();
      const reference = this.#reference;
      if (reference === null) {
        this.#reference = { at, offset };
        return;
      }
      const elapsed = at - reference.at;
      if (elapsed < MIN_SAMPLE_MS) return;
      const sample = (offset - reference.offset) * 1e3 / elapsed;
      const smoothing = sample > this.bytesPerSecond ? RISE_MS : FALL_MS;
      const weight = this.bytesPerSecond === 0 ? 1 : 1 - Math.exp(-elapsed / smoothing);
      this.bytesPerSecond += (sample - this.bytesPerSecond) * weight;
      this.#reference = { at, offset };
    }
  };

  // src/upload_core.js
  var SEND_BUFFER_LIMIT = 8 * 1024 * 1024;
  var DRAIN_POLL_MS = 5;
  var REMEMBER_INTERVAL_MS = 1e3;
  var SERVER_STATE_TEXT = {
    stored: "stored",
    handing_over: "handing over",
    waiting_for_backend: "waiting for backend"
  };
  var UploadCore = class {
    /** @type {Phase} */
    phase = "idle";
    /** @type {string | null} the ticket state the server last reported */
    serverState = null;
    paused = false;
    cancelling = false;
    /** @type {string | null} the reason sent with our cancel, then the server's */
    cancelReason = null;
    /** @type {number | null} the error that ended the upload, or the retryable one last met while retrying */
    errorCode = null;
    /** @type {string | null} */
    errorMessage = null;
    /** @type {unknown} the backend's result, from `state finished` or error 4; null until known */
    result = null;
    /** @type {string | null} this page's SHA-256 of the file, once computed */
    sha256 = null;
    /** File offset up to which bytes have been handed to the socket. */
    sentOffset = 0;
    /** File offset up to which the server has stored the bytes. */
    ackedOffset = 0;
    /** Whether the server has acknowledged the whole file. */
    allAcked = false;
    /** Binary messages sent on the current connection. */
    messagesSent = 0;
    /** Binary messages of the current connection whose every byte is acknowledged. */
    messagesAcked = 0;
    /** When the scheduled reconnection happens (environment clock), while phase is 'waiting'. */
    reconnectAt = 0;
    /** @type {string} */
    #ticketId;
    /** @type {Blob & {name?: string}} */
    #file;
    /**
     * The file as it was when the uploader was made: every message and every
     * probe is a slice of this one slice, so a browser that tracks files (Chromium
     * does) fails to read it once the file on disk has changed, instead of
     * sending bytes of a different file.
     * @type {Blob}
     */
    #snapshot;
    /** @type {() => string} */
    #socketUrl;
    /** @type {import('./environment.js').Environment} */
    #env;
    /** @type {(event: UploadEvent) => void} */
    #notify;
    /** @type {ProgressThrottle} */
    #progress;
    /** @type {RateMeter} */
    #rate;
    /** Whether the file is hashed and the server asked to check it end to end. */
    #integrity;
    /** @type {Promise<void> | null} the hashing under way or done, once started */
    #hashing = null;
    /** @type {import('./resume_store.js').ResumeStore | null} */
    #resumeStore;
    #rememberedAt = -Infinity;
    /** errorCode and errorMessage tell of a retryable error, to be cleared once bytes flow again. */
    #showingRetryError = false;
    /** @type {'websocket' | 'http'} the data path in use */
    #transport;
    /** 'auto' chose the transport: if it is blocked before it ever worked, the other one is tried. */
    #mayFallBack;
    /** Some connection or request of this upload got an answer from the server. */
    #everAnswered = false;
    /** An HTTP attempt created the tus upload: later attempts resume with HEAD. */
    #httpCreated = false;
    /** @type {WebSocket | null} */
    #ws = null;
    /** @type {HttpAttempt | null} the HTTP path's counterpart of #ws (http_upload.js) */
    #http = null;
    #window = 0;
    #chunkSize = 0;
    /** @type {number[]} end offsets of this connection's messages not yet wholly acknowledged, oldest first */
    #unackedMessageEnds = [];
    /** Reconnection attempts since the server last made progress for us; drives the backoff. */
    #failures = 0;
    /** @type {unknown} */
    #reconnectTimer = null;
    /** @type {unknown} */
    #drainTimer = null;
    /** @type {string | null} situation last reported with 'statechange' */
    #reportedSituation = null;
    /**
     * @param {object} options
     * @param {string} options.ticketId
     * @param {Blob & {name?: string}} options.file
     * @param {() => string} options.socketUrl  asked at each connection
     * @param {import('./environment.js').Environment} options.environment
     * @param {(event: UploadEvent) => void} options.notify
     * @param {boolean} [options.integrity]  hash the file and have the server check it (default true)
     * @param {boolean} [options.remember]  remember the unfinished upload for findResumable() (default true)
     * @param {'auto' | 'websocket' | 'http'} [options.transport]  the data path; 'auto': HTTP where the
     *   environment prefers it (Chromium), else the WebSocket, and the other one if it is blocked
     */
    constructor({ ticketId, file, socketUrl, environment, notify, integrity = true, remember = true, transport = "auto" }) {
      if (!["auto", "websocket", "http"].includes(transport)) {
        throw new TypeError(`incoming.Uploader: transport must be 'auto', 'websocket' or 'http', not ${String(transport)}`);
      }
      this.#mayFallBack = transport === "auto";
      this.#transport = transport === "auto" ? environment.preferHttp ? "http" : "websocket" : transport;
      if (typeof environment.fetch !== "function") {
        if (transport === "http") throw new TypeError("incoming.Uploader: transport 'http' needs fetch");
        this.#transport = "websocket";
        this.#mayFallBack = false;
      }
      this.#ticketId = ticketId;
      this.#file = file;
      this.#snapshot = file.slice(0, file.size);
      this.#socketUrl = socketUrl;
      this.#env = environment;
      this.#notify = notify;
      this.#progress = new ProgressThrottle(environment, () => notify("progress"));
      this.#rate = new RateMeter(environment.now);
      this.#integrity = integrity && typeof environment.hashFile === "function";
      this.#resumeStore = remember ? environment.resumeStore ?? null : null;
      this.#reportedSituation = this.#situation();
    }
    /** @returns {'websocket' | 'http'} the data path in use (it may change once, if 'auto' finds one blocked) */
    get transport() {
      return this.#transport;
    }
    /** Bytes per second the server stores, smoothed; 0 until measured. */
    get bytesPerSecond() {
      return this.#rate.bytesPerSecond;
    }
    /** @returns {number | null} seconds until every byte is acknowledged at the measured rate; null until measured */
    get secondsLeft() {
      if (this.allAcked) return 0;
      const rate = this.#rate.bytesPerSecond;
      return rate > 0 ? (this.size - this.ackedOffset) / rate : null;
    }
    get filename() {
      return (this.#file.name ?? "").slice(0, MAX_TEXT_LENGTH);
    }
    get size() {
      return this.#snapshot.size;
    }
    get isOver() {
      return this.phase === "finished" || this.phase === "cancelled" || this.phase === "failed";
    }
    get canPause() {
      return !this.isOver && !this.cancelling && !this.allAcked;
    }
    /** Once the file is stored the server is handing it over; a cancel would come too late. */
    get canCancel() {
      return !this.isOver && !this.cancelling && !STATES_AFTER_UPLOAD.has(this.serverState ?? "");
    }
    start() {
      if (this.phase !== "idle") return;
      this.#startHashing();
      this.#remember(true);
      if (this.paused) this.phase = "held";
      else this.#connect();
      this.#noteSituation();
    }
    /** @param {boolean} wanted */
    setPaused(wanted) {
      if (wanted === this.paused || this.isOver || this.cancelling) return;
      if (wanted && this.allAcked) return;
      this.paused = wanted;
      this.#rate.restart();
      if (this.#transport === "http" && wanted && (this.phase === "connected" || this.phase === "connecting")) {
        this.#dropConnection();
        this.phase = "held";
      } else if (this.phase === "connected") {
        this.#send({ type: wanted ? "pause" : "unpause" });
        if (!wanted) this.#pump();
      } else if (wanted && this.phase === "waiting") {
        this.#cancelReconnect();
        this.phase = "held";
      } else if (!wanted && this.phase === "held") {
        this.#connect();
      }
      this.#noteSituation();
    }
    /** @param {string | undefined} reason */
    cancel(reason) {
      if (!this.canCancel) return;
      this.cancelling = true;
      this.cancelReason = reason == null ? null : String(reason).slice(0, MAX_TEXT_LENGTH);
      if (this.phase === "connected") this.#sendCancel();
      else if (this.phase !== "connecting") this.#connect();
      this.#noteSituation();
    }
    /** @returns {string} a short text for people, e.g. "uploading" or "reconnecting in 2 s" */
    stateMessage() {
      const situation = this.#situation();
      if (situation !== "reconnecting") return situation;
      const seconds = Math.max(1, Math.ceil((this.reconnectAt - this.#env.now()) / 1e3));
      return `reconnecting in ${seconds} s`;
    }
    /** What stateMessage() says, without the countdown: a change here is a 'statechange'. */
    #situation() {
      switch (this.phase) {
        case "idle":
          return this.paused ? "paused" : "not started";
        case "finished":
        case "cancelled":
          return this.phase;
        case "failed":
          return "error";
      }
      if (this.cancelling) return "cancelling";
      switch (this.phase) {
        case "connecting":
          return "connecting";
        case "waiting":
          return "reconnecting";
        case "held":
          return "paused";
      }
      return SERVER_STATE_TEXT[this.serverState ?? ""] ?? (this.paused ? "paused" : "uploading");
    }
    #noteSituation() {
      const situation = this.#situation();
      if (situation === this.#reportedSituation) return;
      this.#reportedSituation = situation;
      this.#notify("statechange");
    }
    #connect() {
      this.#cancelReconnect();
      this.phase = "connecting";
      void this.#probeFile();
      if (this.#transport === "http") this.#connectHttp();
      else this.#connectSocket();
    }
    #connectSocket() {
      let ws;
      try {
        ws = new this.#env.WebSocket(this.#socketUrl());
      } catch (error) {
        this.#fail(LOCAL_ERROR, `cannot open the upload connection: ${/** @type {Error} */
        error.message}`);
        return;
      }
      ws.binaryType = "arraybuffer";
      ws.onopen = () => {
        this.#everAnswered = true;
        const hello = { type: "hello", ticket: this.#ticketId, size: this.size, filename: this.filename };
        if (this.#integrity) hello.integrity = "sha256";
        if (this.#integrity && this.sha256 !== null) hello.sha256 = this.sha256;
        this.#send(hello);
      };
      ws.onmessage = (event) => {
        this.#receive(event.data);
        this.#noteSituation();
      };
      ws.onclose = (event) => {
        if (event.code === 1006 && !this.#everAnswered && this.#mayFallBack) this.#fallBack("http");
        else this.#closed(event.code, event.reason);
        this.#noteSituation();
      };
      this.#ws = ws;
    }
    /** The HTTP path: one HttpAttempt per "connection", reporting as the socket's messages do. */
    #connectHttp() {
      let endpoint;
      try {
        endpoint = tusEndpointFor(this.#socketUrl());
      } catch (error) {
        this.#fail(LOCAL_ERROR, `cannot open the upload connection: ${/** @type {Error} */
        error.message}`);
        return;
      }
      const reporting = (action) => (...args) => {
        if (this.#http !== attempt) return;
        action(...args);
        this.#noteSituation();
      };
      const attempt = new HttpAttempt({
        endpoint,
        ticketId: this.#ticketId,
        file: this.#snapshot,
        filename: this.filename,
        integrity: this.#integrity,
        created: this.#httpCreated,
        digest: () => this.sha256,
        rate: () => this.#rate.bytesPerSecond,
        paused: () => this.paused || this.cancelling,
        env: this.#env,
        sink: {
          welcomed: reporting((offset, state) => {
            this.#everAnswered = this.#httpCreated = true;
            if (!(offset >= 0 && offset <= this.size)) this.#fail(LOCAL_ERROR, "the server sent an unusable offset");
            else this.#resumeAt(offset, state);
          }),
          sent: reporting((end) => {
            this.sentOffset = end;
            this.messagesSent++;
            this.#unackedMessageEnds.push(end);
            this.#progress.request();
          }),
          acked: reporting((offset) => this.#acknowledged(offset)),
          state: reporting((state, result) => {
            if (state === this.serverState) return;
            this.#failures = 0;
            if (state === "finished" && result !== void 0) this.result = result;
            this.#serverStateChanged(state);
          }),
          error: reporting((code, message, state, details) => {
            this.#everAnswered = true;
            this.#serverError(code, message, state, details);
          }),
          cancelled: reporting((reason) => {
            this.cancelReason = reason ?? this.cancelReason;
            this.#end("cancelled");
          }),
          disconnected: reporting((network) => {
            if (network && !this.#everAnswered && this.#mayFallBack) this.#fallBack("websocket");
            else this.#disconnected();
          })
        }
      });
      this.#http = attempt;
      attempt.open();
    }
    /**
     * The chosen path is blocked (a proxy that breaks WebSockets, say): this upload takes the
     * other one, at once, and keeps it.
     *
     * @param {'websocket' | 'http'} transport
     */
    #fallBack(transport) {
      this.#dropConnection();
      this.#mayFallBack = false;
      this.#transport = transport;
      this.#connect();
    }
    /** @param {object} message */
    #send(message) {
      this.#ws?.send(JSON.stringify(message));
    }
    /** @param {unknown} data */
    #receive(data) {
      if (typeof data !== "string") return;
      let message;
      try {
        message = JSON.parse(data);
      } catch {
        return;
      }
      switch (message?.type) {
        case "welcome":
          this.#welcomed(message);
          break;
        case "ack":
          this.#acknowledged(message.offset);
          break;
        case "state":
          this.#failures = 0;
          if (message.state === "finished" && "result" in message) this.result = message.result ?? null;
          this.#serverStateChanged(message.state);
          break;
        case "cancelled":
          this.cancelReason = message.reason ?? this.cancelReason;
          this.#end("cancelled");
          break;
        case "error":
          this.#serverError(message.code, message.message, message.state, message);
          break;
      }
    }
    /** @param {{offset: number, chunkSize: number, window: number, state: string}} welcome */
    #welcomed({ offset, chunkSize, window: window2, state }) {
      if (!(chunkSize > 0 && window2 > 0 && offset >= 0 && offset <= this.size)) {
        this.#fail(LOCAL_ERROR, "the server sent an unusable welcome");
        return;
      }
      this.#everAnswered = true;
      this.#window = window2;
      this.#chunkSize = chunkSize;
      this.#resumeAt(offset, state);
    }
    /**
     * Welcomed (by the socket, or the HTTP path's POST or HEAD): carry on from the server's offset.
     *
     * @param {number} offset
     * @param {string} state
     */
    #resumeAt(offset, state) {
      this.phase = "connected";
      this.#rate.restart();
      this.messagesSent = 0;
      this.messagesAcked = 0;
      this.#unackedMessageEnds = [];
      this.sentOffset = offset;
      this.#setAcked(offset);
      this.#serverStateChanged(state);
      if (this.isOver) return;
      this.#remember(true);
      if (!this.cancelling) this.#sendDigest();
      if (this.cancelling) {
        this.#sendCancel();
      } else if (STATES_AFTER_UPLOAD.has(state)) {
        this.#clearRetryError();
        this.#http?.digestKnown();
      } else if (this.#http) {
        this.#pump();
      } else if (this.paused) {
        if (state !== "paused") this.#send({ type: "pause" });
      } else {
        if (state === "paused") this.#send({ type: "unpause" });
        this.#pump();
      }
    }
    /** @param {string} state */
    #serverStateChanged(state) {
      this.serverState = state;
      if (STATES_AFTER_UPLOAD.has(state)) this.#clearRetryError();
      if (state === "finished") this.#finish();
    }
    /** @param {number} offset */
    #acknowledged(offset) {
      if (!(offset > this.ackedOffset)) return;
      this.#failures = 0;
      this.#rate.acknowledged(offset);
      this.#clearRetryError();
      this.#setAcked(offset);
      this.#remember(false);
      this.#pump();
    }
    /** Hashes the file alongside the upload; the digest goes to the server as soon as it is known. */
    #startHashing() {
      if (!this.#integrity || this.#hashing !== null) return;
      const hashFile2 = (
        /** @type {(blob: Blob) => Promise<string>} */
        this.#env.hashFile
      );
      this.#hashing = new Promise((resolve) => {
        resolve(hashFile2(this.#snapshot));
      }).then(
        (hex) => {
          this.sha256 = hex;
          if (this.phase === "connected" && !this.cancelling) this.#sendDigest();
        },
        (error) => {
          if (!this.isOver) this.#fail(LOCAL_ERROR, `cannot read the file: ${/** @type {Error} */
          error?.message ?? error}`);
        }
      );
    }
    #sendDigest() {
      if (this.#http) {
        this.#http.digestKnown();
        return;
      }
      if (this.#integrity && this.sha256 !== null && !this.isOver) this.#send({ type: "digest", sha256: this.sha256 });
    }
    /**
     * Writes down where this upload stands, for findResumable() after a reload:
     * always when `now`, else at most every REMEMBER_INTERVAL_MS.
     *
     * @param {boolean} now
     */
    #remember(now) {
      const store = this.#resumeStore;
      if (store === null || this.isOver) return;
      const at = this.#env.now();
      if (!now && at - this.#rememberedAt < REMEMBER_INTERVAL_MS) return;
      this.#rememberedAt = at;
      let url = null;
      try {
        url = this.#socketUrl();
      } catch {
      }
      void store.remember(this.#file, { ticket: this.#ticketId, url, bytes_acked: this.ackedOffset }, Date.now());
    }
    /** Bytes flow again (or all have arrived): the retryable error that held them up is history. */
    #clearRetryError() {
      if (!this.#showingRetryError) return;
      this.#showingRetryError = false;
      this.errorCode = null;
      this.errorMessage = null;
      this.#progress.request();
    }
    /** @param {number} offset */
    #setAcked(offset) {
      this.ackedOffset = offset;
      while (this.#unackedMessageEnds.length > 0 && this.#unackedMessageEnds[0] <= offset) {
        this.#unackedMessageEnds.shift();
        this.messagesAcked++;
      }
      const allAcked = offset === this.size;
      if (allAcked && !this.allAcked) {
        this.allAcked = true;
        this.#progress.flush();
      } else {
        this.allAcked = allAcked;
        this.#progress.request();
      }
    }
    /**
     * Hands the socket every message that fits the window and the send buffer.
     * A message is a slice of the file as a Blob: the browser reads it from disk
     * on its way to the network, and its bytes never pass through the page's
     * heap (which is what makes Chromium fast). Until it is sent, a queued Blob
     * counts in bufferedAmount like any other message.
     */
    #pump() {
      if (this.#http) {
        if (this.phase === "connected" && !this.paused && !this.cancelling) this.#http.pump();
        return;
      }
      const ws = this.#ws;
      let sentAny = false;
      const rate = this.#rate.bytesPerSecond;
      const limit = inFlightLimit(rate, this.#window);
      const bytesPerMessage = messageSize(rate, this.#chunkSize, this.#window);
      while (ws && this.phase === "connected" && !this.paused && !this.cancelling && this.sentOffset < this.size) {
        const end = Math.min(this.sentOffset + bytesPerMessage, this.size);
        if (end - this.ackedOffset > limit) break;
        if (ws.bufferedAmount >= SEND_BUFFER_LIMIT) {
          this.#pollDrain();
          break;
        }
        ws.send(this.#snapshot.slice(this.sentOffset, end));
        this.sentOffset = end;
        this.messagesSent++;
        this.#unackedMessageEnds.push(end);
        sentAny = true;
      }
      if (sentAny) this.#progress.request();
    }
    /**
     * Reads the file's last byte, once per connection, and ends the upload if
     * that fails. The browser reads each message's Blob only as it sends it, so
     * a file that vanished, became unreadable or changed (Chromium notices every
     * change; Firefox a missing or shortened file) shows up there as a failed
     * send, which browsers report as an abnormal close (1006), not as an error
     * of the file. Without this check every reconnection would fail the same
     * way, forever.
     */
    async #probeFile() {
      const size = this.size;
      if (size === 0) return;
      let problem = null;
      try {
        const bytes = await this.#snapshot.slice(size - 1, size).arrayBuffer();
        if (bytes.byteLength !== 1) problem = "it is shorter than when the upload began";
      } catch (error) {
        problem = /** @type {Error} */
        error.message || String(error);
      }
      if (problem !== null && !this.isOver) this.#fail(LOCAL_ERROR, `cannot read the file: ${problem}`);
    }
    #pollDrain() {
      if (this.#drainTimer !== null) return;
      this.#drainTimer = this.#env.setTimeout(() => {
        this.#drainTimer = null;
        this.#pump();
      }, DRAIN_POLL_MS);
    }
    #sendCancel() {
      if (this.#http) {
        this.#http.cancel(this.cancelReason);
        return;
      }
      this.#send(this.cancelReason === null ? { type: "cancel" } : { type: "cancel", reason: this.cancelReason });
    }
    /**
     * @param {number} code
     * @param {string | undefined} message
     * @param {string} [state]  the ticket's state, when the error message carried it
     * @param {{sha256?: unknown, result?: unknown}} [details]  the error message's other members
     */
    #serverError(code, message, state, details = {}) {
      if (code === TICKET_CLOSED && state === "finished") {
        if ("result" in details) this.result = details.result ?? null;
        const stored = typeof details.sha256 === "string" ? details.sha256 : null;
        this.#finishedElsewhere(stored);
      } else if (code === TICKET_CLOSED && state === "cancelled") {
        if (!this.cancelling) this.cancelReason = message || "cancelled";
        this.#end("cancelled");
      } else if (RETRYABLE_ERRORS.has(code)) {
        this.errorCode = code;
        this.errorMessage = message || `error ${code}`;
        this.#showingRetryError = true;
        this.#progress.flush();
        this.#disconnected();
      } else {
        this.#fail(code, message || `error ${code}`);
      }
    }
    /**
     * @param {number} code  WebSocket close code
     * @param {string} reason
     */
    #closed(code, reason) {
      const errorCode = code - ERROR_CLOSE_BASE;
      if (errorCode > 0 && errorCode < 1e3) this.#serverError(errorCode, reason || `closed with code ${code}`);
      else this.#disconnected();
    }
    /** The connection is gone without the upload being over: reconnect, or wait for unpause. */
    #disconnected() {
      this.#dropConnection();
      if (this.paused && !this.cancelling) {
        this.phase = "held";
        return;
      }
      const delay = reconnectDelay(this.#failures++, this.#env.random);
      this.phase = "waiting";
      this.reconnectAt = this.#env.now() + delay;
      this.#reconnectTimer = this.#env.setTimeout(() => {
        this.#reconnectTimer = null;
        this.#connect();
        this.#noteSituation();
      }, delay);
    }
    #dropConnection() {
      if (this.#drainTimer !== null) {
        this.#env.clearTimeout(this.#drainTimer);
        this.#drainTimer = null;
      }
      this.#http?.close();
      this.#http = null;
      const ws = this.#ws;
      if (ws === null) return;
      this.#ws = null;
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.close(1e3);
    }
    #cancelReconnect() {
      if (this.#reconnectTimer === null) return;
      this.#env.clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = null;
    }
    /**
     * The ticket was finished by an earlier connection (perhaps before a
     * reload). If the server says which file it stored and ours is another
     * one, this is no success: the user presented a different file.
     *
     * @param {string | null} storedSha256
     */
    #finishedElsewhere(storedSha256) {
      if (storedSha256 === null || !this.#integrity || this.#hashing === null) {
        this.#finish();
        return;
      }
      const decide = () => {
        if (this.isOver) return;
        if (this.sha256 !== null && this.sha256 !== storedSha256) {
          this.#fail(DIGEST_MISMATCH, "the ticket was finished with another file (its SHA-256 differs from this file's)");
        } else {
          this.#finish();
        }
      };
      if (this.sha256 !== null) {
        decide();
        return;
      }
      this.#dropConnection();
      void this.#hashing.then(decide);
    }
    #finish() {
      this.#clearRetryError();
      if (!this.allAcked) {
        this.sentOffset = this.size;
        this.#setAcked(this.size);
      }
      this.#end("finished");
    }
    /**
     * @param {number} code
     * @param {string} message
     */
    #fail(code, message) {
      this.#showingRetryError = false;
      this.errorCode = code;
      this.errorMessage = message;
      this.#end("failed");
    }
    /** @param {'finished' | 'cancelled' | 'failed'} outcome */
    #end(outcome) {
      if (outcome === "cancelled") this.#clearRetryError();
      void this.#resumeStore?.forget(this.#file, this.#ticketId);
      this.#dropConnection();
      this.#cancelReconnect();
      this.#progress.cancel();
      this.phase = outcome;
      this.cancelling = false;
      this.#noteSituation();
      this.#notify(outcome === "failed" ? "error" : outcome);
    }
  };

  // src/uploader.js
  var EVENTS_WITH_CALLBACKS = ["progress", "finished", "cancelled", "error"];
  var IncomingUploader = class extends EventTarget {
    /** @type {((uploader: IncomingUploader) => void) | null} */
    onprogress = null;
    /** @type {((uploader: IncomingUploader) => void) | null} */
    onfinished = null;
    /** @type {((uploader: IncomingUploader) => void) | null} */
    oncancelled = null;
    /** @type {((uploader: IncomingUploader) => void) | null} */
    onerror = null;
    /** @type {UploadCore} */
    #core;
    /**
     * @param {string} ticketId
     * @param {Blob} file
     * @param {UploaderOptions} [options]
     */
    constructor(ticketId, file, { url, environment = browserEnvironment(), integrity = true, remember = true, transport = "auto" } = {}) {
      super();
      if (typeof ticketId !== "string" || ticketId === "") {
        throw new TypeError("incoming.Uploader: ticketId must be a non-empty string");
      }
      if (typeof file?.slice !== "function" || !Number.isSafeInteger(file.size)) {
        throw new TypeError("incoming.Uploader: file must be a File or Blob");
      }
      for (const type of EVENTS_WITH_CALLBACKS) {
        const property = (
          /** @type {'onprogress'} */
          `on${type}`
        );
        this.addEventListener(type, () => this[property]?.(this));
      }
      this.#core = new UploadCore({
        ticketId,
        file,
        socketUrl: url ? () => url : uploadSocketUrl,
        environment,
        notify: (type) => this.dispatchEvent(new Event(type)),
        integrity,
        remember,
        transport
      });
    }
    /** The file's name as the browser knows it (empty for a Blob). */
    get filename() {
      return this.#core.filename;
    }
    /** The file's size in bytes. */
    get bytes_total() {
      return this.#core.size;
    }
    /** File offset up to which bytes have been handed to the connection. */
    get bytes_tx() {
      return this.#core.sentOffset;
    }
    /** File offset up to which the server has stored the bytes. */
    get bytes_acked() {
      return this.#core.ackedOffset;
    }
    /** Bytes sent but not yet acknowledged. */
    get bytes_ahead() {
      return this.#core.sentOffset - this.#core.ackedOffset;
    }
    /** bytes_acked / bytes_total, from 0 to 1 (an empty file is 1 once acknowledged). */
    get frac_complete() {
      const core = this.#core;
      if (core.size === 0) return core.allAcked ? 1 : 0;
      return core.ackedOffset / core.size;
    }
    /** Binary messages sent on the current connection. */
    get chunks_tx_now() {
      return this.#core.messagesSent;
    }
    /** Binary messages of the current connection wholly acknowledged. */
    get chunks_acked_now() {
      return this.#core.messagesAcked;
    }
    /** Binary messages of the current connection not yet wholly acknowledged. */
    get chunks_ahead() {
      return this.#core.messagesSent - this.#core.messagesAcked;
    }
    /** A short text for people, e.g. "uploading" or "reconnecting in 2 s". */
    get state_msg() {
      return this.#core.stateMessage();
    }
    /** Why the upload was cancelled (the server's word), or null. */
    get cancel_msg() {
      return this.#core.cancelReason;
    }
    /**
     * The error code once the upload failed: the server's, or 0 for a failure in the browser.
     * While retrying after a retryable error (10, 12, 13, 21): that error, until bytes flow again.
     */
    get error_code() {
      return this.#core.errorCode;
    }
    /** What went wrong (see error_code). */
    get error_msg() {
      return this.#core.errorMessage;
    }
    /** Bytes per second the server stores, smoothed over the last seconds; 0 until measured. */
    get bytes_per_second() {
      return this.#core.bytesPerSecond;
    }
    /** Seconds until every byte is acknowledged at that rate; null until measured. */
    get seconds_left() {
      return this.#core.secondsLeft;
    }
    /** The web-app backend's result (any JSON value) once finished, if it gave one; else null. */
    get result() {
      return this.#core.result;
    }
    /** This page's SHA-256 of the file (64 hex digits) once computed; null before, or with integrity off. */
    get sha256() {
      return this.#core.sha256;
    }
    /** The data path in use: 'websocket' or 'http' (tus PATCH requests with Blob bodies). */
    get transport() {
      return this.#core.transport;
    }
    /** A connection is open and the server has welcomed it. */
    get connected() {
      return this.#core.phase === "connected";
    }
    /** The backend has accepted the file: the upload is done. */
    get finished() {
      return this.#core.phase === "finished";
    }
    /** The upload was paused with pause() and not yet unpaused. */
    get paused() {
      return this.#core.paused;
    }
    /** pause() would pause now: the upload is not over and not every byte is acknowledged. */
    get can_pause() {
      return this.#core.canPause;
    }
    /** cancel() was called and the server has not yet confirmed. */
    get cancelling() {
      return this.#core.cancelling;
    }
    /** The upload was cancelled, by this page or by the web-app backend. */
    get cancelled() {
      return this.#core.phase === "cancelled";
    }
    /** cancel() would cancel now: the upload is not over and the file is not yet stored. */
    get can_cancel() {
      return this.#core.canCancel;
    }
    /** Connect and upload; reconnects by itself until finished, cancelled or failed. Calling it again does nothing. */
    start() {
      this.#core.start();
    }
    /** @param {'pause' | 'unpause' | 'toggle'} [mode] */
    pause(mode = "pause") {
      switch (mode) {
        case "pause":
          return this.#core.setPaused(true);
        case "unpause":
          return this.#core.setPaused(false);
        case "toggle":
          return this.#core.setPaused(!this.#core.paused);
        default:
          throw new TypeError(`incoming.Uploader.pause: mode must be 'pause', 'unpause' or 'toggle', not ${String(mode)}`);
      }
    }
    /** @param {string} [reason]  passed on to the web-app backend */
    cancel(reason) {
      this.#core.cancel(reason);
    }
  };
  function Uploader(ticketId, file, options) {
    return new IncomingUploader(ticketId, file, options);
  }
  Uploader.prototype = IncomingUploader.prototype;

  // src/upload_promise.js
  var UploadError = class extends Error {
    /** @param {ReturnType<typeof Uploader>} uploader  a cancelled or failed uploader */
    constructor(uploader) {
      const cancelled = uploader.cancelled;
      super(cancelled ? `upload cancelled${uploader.cancel_msg ? `: ${uploader.cancel_msg}` : ""}` : uploader.error_msg ?? "upload failed");
      this.name = cancelled ? "AbortError" : "UploadError";
      this.code = uploader.error_code;
      this.uploader = uploader;
    }
  };
  function upload(ticketId, file, { onprogress, signal, ...uploaderOptions } = {}) {
    return new Promise((resolve, reject) => {
      const uploader = Uploader(ticketId, file, uploaderOptions);
      const cancelOnAbort = () => uploader.cancel(abortReason(signal));
      const whenOver = (settle) => () => {
        signal?.removeEventListener("abort", cancelOnAbort);
        settle();
      };
      uploader.addEventListener("finished", whenOver(() => resolve(uploader)));
      const rejectWithError = whenOver(() => reject(new UploadError(uploader)));
      uploader.addEventListener("error", rejectWithError);
      uploader.addEventListener("cancelled", rejectWithError);
      if (onprogress) uploader.addEventListener("progress", () => onprogress(uploader));
      uploader.start();
      if (signal?.aborted) cancelOnAbort();
      else signal?.addEventListener("abort", cancelOnAbort);
    });
  }
  function abortReason(signal) {
    const reason = signal?.reason;
    if (reason == null) return void 0;
    return reason instanceof Error ? reason.message : String(reason);
  }

  // src/script_entry.js
  var script = (
    /** @type {HTMLScriptElement | null | undefined} */
    globalThis.document?.currentScript
  );
  rememberLoaderUrl(script?.src);
  return __toCommonJS(script_entry_exports);
})();
/*! Bundled license information:

hash-wasm/dist/index.esm.js:
  (*!
   * hash-wasm (https://www.npmjs.com/package/hash-wasm)
   * (c) Dani Biro
   * @license MIT
   *)
*/
