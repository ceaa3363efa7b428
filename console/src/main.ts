// The console's entry: who is signed in decides between the sign-in page and the app; the hash
// decides the page. Pages return a cleanup (timers, players) that runs when the route changes.
import "asciinema-player/dist/bundle/asciinema-player.css";
import "./style.css";

import { type Me, me, whenSignedOut } from "./api";
import { h, errorBox, replace } from "./dom";
import { parse, type Route } from "./router";
import { shell } from "./shell";
import { signIn } from "./pages/signin";
import { approvalsPage } from "./pages/approvals";
import { sessionsPage } from "./pages/sessions";
import { sessionPage } from "./pages/session";
import { runPage } from "./pages/run";
import { auditPage } from "./pages/audit";

export type Cleanup = () => void;
export type Page = (main: HTMLElement, me: Me) => Cleanup | void;

const app = document.getElementById("app") as HTMLElement;
let current: Me | null = null;
let cleanup: Cleanup | void;

function pageFor(route: Route): Page {
  switch (route.page) {
    case "approvals":
      return approvalsPage;
    case "sessions":
      return (main) => sessionsPage(main, route.query);
    case "session":
      return (main) => sessionPage(main, route.id);
    case "run":
      return (main) => runPage(main, route.id);
    case "audit":
      return auditPage;
  }
}

function stop(): void {
  if (cleanup) cleanup();
  cleanup = undefined;
}

function render(): void {
  stop();
  if (!current) return showSignIn();
  const route = parse(location.hash);
  const { root, main } = shell(current, route, signedOut);
  replace(app, root);
  try {
    cleanup = pageFor(route)(main, current);
  } catch (e) {
    main.append(errorBox(String(e)));
  }
}

function showSignIn(): void {
  stop();
  current = null;
  replace(app, signIn((who) => {
    current = who;
    if (!location.hash || location.hash === "#/") location.hash = "#/approvals";
    render();
  }));
}

function signedOut(): void {
  current = null;
  showSignIn();
}

async function boot(): Promise<void> {
  whenSignedOut(signedOut);
  window.addEventListener("hashchange", () => {
    if (current) render();
  });
  try {
    current = await me();
  } catch (e) {
    replace(app, h("main", { class: "page" }, errorBox(`The gateway did not answer: ${String(e)}`)));
    return;
  }
  if (current) render();
  else showSignIn();
}

void boot();
