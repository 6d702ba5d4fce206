/** Quoting file content in a one-line error message. */

/** Text with control characters escaped: JSON.parse quotes the file's bytes, and an error is one line. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, (c) =>
    c === '\ufffd' ? '?' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
