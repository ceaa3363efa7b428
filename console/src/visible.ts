// Agents write the statements reviewers read, so what a reviewer sees must be what would run:
// control characters, line and paragraph separators and bidi overrides are shown as visible
// escapes instead of being interpreted (a U+202E could otherwise make `DROP` read as
// something harmless; a lone \r could hide the start of a line).

/** One piece of the visible form: plain text, or an escape to be styled apart. */
export type Piece = { text: string; escape: boolean; newline?: boolean };

function hex(cp: number): string {
  return cp.toString(16);
}

/** The escape for one code point, or null when it is shown as itself. */
export function escapeFor(cp: number): string | null {
  if (cp === 0x0a) return "⏎";
  if (cp === 0x09) return "→";
  if (cp === 0x0d) return "\\r";
  if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp <= 0x9f)) return `\\x${hex(cp).padStart(2, "0")}`;
  if (cp === 0x2028 || cp === 0x2029) return `\\u{${hex(cp)}}`;
  if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) return `\\u{${hex(cp)}}`;
  // Zero-width and other invisible format characters that can hide text.
  if (cp === 0x200b || cp === 0x200c || cp === 0x200d || cp === 0x200e || cp === 0x200f) return `\\u{${hex(cp)}}`;
  if (cp === 0x061c || cp === 0xfeff || cp === 0x2060 || cp === 0x00ad) return `\\u{${hex(cp)}}`;
  return null;
}

/** Splits `text` into plain runs and escapes; a newline's escape carries `newline`. */
export function pieces(text: string): Piece[] {
  const out: Piece[] = [];
  let run = "";
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    const esc = escapeFor(cp);
    if (esc === null) {
      run += ch;
      continue;
    }
    if (run) out.push({ text: run, escape: false });
    run = "";
    out.push({ text: esc, escape: true, newline: cp === 0x0a });
  }
  if (run) out.push({ text: run, escape: false });
  return out;
}

/** The visible form as DOM: escapes in `<span class="ctl">`, a newline as ⏎ and a line break. */
export function visible(text: string, tag: "pre" | "span" | "code" = "pre"): HTMLElement {
  const el = document.createElement(tag);
  el.classList.add("visible");
  for (const p of pieces(text)) {
    if (!p.escape) {
      el.appendChild(document.createTextNode(p.text));
      continue;
    }
    const span = document.createElement("span");
    span.className = "ctl";
    span.textContent = p.text;
    el.appendChild(span);
    if (p.newline) el.appendChild(document.createElement("br"));
  }
  return el;
}
