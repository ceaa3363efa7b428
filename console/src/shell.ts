// The frame around every page: the navigation, who is signed in, and "Sign out".
import { type Me, logout } from "./api";
import { h } from "./dom";
import type { Route } from "./router";

const LINKS: [string, string, Route["page"][]][] = [
  ["Approvals", "#/approvals", ["approvals"]],
  ["Sessions", "#/sessions", ["sessions", "session", "run"]],
  ["Audit", "#/audit", ["audit"]],
];

export function shell(me: Me, route: Route, onSignedOut: () => void): { root: HTMLElement; main: HTMLElement } {
  const nav = h("nav", { "aria-label": "Console" });
  for (const [name, href, pages] of LINKS) {
    const current = pages.includes(route.page);
    nav.append(h("a", { href, class: current ? "current" : "", "aria-current": current ? "page" : false }, name));
  }
  const signOut = h("button", { type: "button", class: "quiet" }, "Sign out");
  signOut.addEventListener("click", async () => {
    signOut.disabled = true;
    try {
      await logout();
    } catch {
      // The session is gone either way from the console's point of view.
    }
    onSignedOut();
  });
  const who = h(
    "span",
    { class: "who" },
    h("strong", {}, me.name),
    ` (${me.kind})`,
    me.groups.length ? h("span", { class: "groups" }, ` ${me.groups.join(", ")}`) : null,
  );
  const header = h("header", { class: "top" }, h("span", { class: "brand" }, "Vigil"), nav, who, signOut);
  const main = h("main", { class: "page" });
  return { root: h("div", { class: "app" }, header, main), main };
}
