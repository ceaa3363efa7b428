// Building the page from data without ever parsing data as HTML: every text goes in through
// textContent (createTextNode), every attribute through setAttribute with a fixed name.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** `h("a", {href: "#/x", class: "nav"}, "text", child)`: an element. `on*` attributes that hold
 * functions become listeners; `false`/`null` attributes are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") {
      el.addEventListener(name.replace(/^on/, ""), value);
    } else if (name === "style") {
      throw new Error("no style attributes: the console's CSP forbids them");
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, ...children);
  return el;
}

export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

/** Empties `el` and puts `children` in. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

/** A `<dl>` of label/value pairs; pairs whose value is null are left out. */
export function fields(pairs: [string, Child][]): HTMLDListElement {
  const dl = h("dl", { class: "fields" });
  for (const [label, value] of pairs) {
    if (value === null || value === undefined || value === false || value === "") continue;
    dl.append(h("dt", {}, label), h("dd", {}, value));
  }
  return dl;
}

/** An error line (announced to screen readers). */
export function errorBox(message: string): HTMLElement {
  return h("p", { class: "error", role: "alert" }, message);
}
