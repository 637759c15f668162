/**
 * Which engine runs us, where the library's choices depend on it (measured
 * with bench/browser; see jslib/README.md). Shared by the page's code and the
 * hashing Worker, which both read their own `navigator`.
 */

/**
 * Whether this browser is Chromium-based (Blink). There its WebSocket stays
 * below ~190 MB/s where an HTTP request whose body is a Blob slice reaches 300+
 * MB/s (Firefox's WebSocket is as fast as its HTTP, and WebKit's faster), and
 * it reads a Blob faster as a stream than in slices (the others the other way
 * round).
 *
 * @param {{userAgent?: string, userAgentData?: {brands?: {brand: string}[]}} | undefined} navigator
 * @returns {boolean}
 */
export function isChromium(navigator) {
  const brands = navigator?.userAgentData?.brands;
  if (Array.isArray(brands) && brands.length > 0) return brands.some(({ brand }) => /Chromium/.test(brand));
  // Without client hints (an insecure context, an old engine): every Blink browser says Chrome/.
  return /\b(Headless)?Chrome\/\d/.test(navigator?.userAgent ?? '');
}
