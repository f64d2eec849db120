// Turning the finished audio into a file the browser saves.

/** A 44-byte RIFF/WAVE header for 16-bit mono PCM of `dataBytes` bytes. */
export function wavHeader(dataBytes, sampleRate = 24000) {
  const header = new DataView(new ArrayBuffer(44));
  const ascii = (at, text) => { for (let i = 0; i < text.length; i++) header.setUint8(at + i, text.charCodeAt(i)); };
  ascii(0, "RIFF");
  header.setUint32(4, 36 + dataBytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  header.setUint32(16, 16, true);       // fmt chunk size
  header.setUint16(20, 1, true);        // PCM
  header.setUint16(22, 1, true);        // mono
  header.setUint32(24, sampleRate, true);
  header.setUint32(28, sampleRate * 2, true);
  header.setUint16(32, 2, true);        // block align
  header.setUint16(34, 16, true);       // bits per sample
  ascii(36, "data");
  header.setUint32(40, dataBytes, true);
  return new Uint8Array(header.buffer);
}

export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
