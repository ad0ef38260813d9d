// Bytes -> base64 without building one huge argument list (String.fromCharCode takes at most
// ~64K arguments): embeddings in base64 and images from byte streams use it.
export function bytesToBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}
