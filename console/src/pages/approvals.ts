// The review queue, live: polled every 2 s while the tab is visible, pending requests first. Cards are kept across polls
// (and rebuilt only when their request changed) so a reviewer typing a reason or a grant window
// does not lose it when the queue refreshes.
import { ApiError, getJson } from "../api";
import { type Approval, ordered, signature } from "../approval";
import { errorBox, h, replace } from "../dom";
import { when } from "../format";
import { type Card, card } from "./approval_card";

const POLL_MS = 2000;

type Kept = { sig: string; card: Card };

export function approvalsPage(main: HTMLElement): () => void {
  const status = h("p", { class: "status-line", "aria-live": "polite" }, "Loading…");
  const pendingList = h("div", { class: "cards", "aria-label": "Pending requests" });
  const decidedList = h("div", { class: "cards", "aria-label": "Decided requests" });
  const pendingEmpty = h("p", { class: "empty" }, "Nothing is waiting for a decision.");
  const pendingCount = h("span", { class: "count" });
  const decidedEmpty = h("p", { class: "empty" }, "No decisions yet.");
  main.append(
    h("h1", {}, "Approvals"),
    status,
    h("section", {}, h("h2", {}, "Pending ", pendingCount), pendingEmpty, pendingList),
    h("section", {}, h("h2", {}, "Decided"), decidedEmpty, decidedList),
  );

  const kept = new Map<string, Kept>();
  let stopped = false;
  let inFlight = false;

  const place = (list: HTMLElement, cards: HTMLElement[]) => {
    cards.forEach((el, i) => {
      // Moving a node that is already in place would blur an input inside it.
      if (list.children[i] !== el) list.insertBefore(el, list.children[i] ?? null);
    });
    while (list.children.length > cards.length) list.lastElementChild?.remove();
  };

  const refresh = async () => {
    // A hidden tab does not poll: it costs the gateway nothing and lets an unattended
    // console's session reach its idle timeout.
    if (stopped || inFlight || document.hidden) return;
    inFlight = true;
    try {
      const body = await getJson<{ approvals: Approval[] }>("/api/v1/approvals?limit=200");
      if (stopped) return;
      const all = ordered(body.approvals ?? []);
      const seen = new Set<string>();
      const pendingEls: HTMLElement[] = [];
      const decidedEls: HTMLElement[] = [];
      for (const a of all) {
        seen.add(a.id);
        const sig = signature(a);
        let k = kept.get(a.id);
        if (!k || k.sig !== sig) {
          const draft = k && a.status === "pending" ? k.card.draft() : null;
          k = { sig, card: card(a, draft, () => void refresh()) };
          kept.set(a.id, k);
        }
        (a.status === "pending" ? pendingEls : decidedEls).push(k.card.el);
      }
      for (const id of [...kept.keys()]) if (!seen.has(id)) kept.delete(id);
      place(pendingList, pendingEls);
      place(decidedList, decidedEls.slice(0, 50));
      pendingCount.textContent = `(${pendingEls.length})`;
      pendingEmpty.hidden = pendingEls.length > 0;
      decidedEmpty.hidden = decidedEls.length > 0;
      replace(status, `Updated ${when(Date.now())}; refreshes every ${POLL_MS / 1000} s.`);
    } catch (e) {
      replace(status, errorBox(`Could not read the queue: ${e instanceof ApiError ? e.message : String(e)}`));
    } finally {
      inFlight = false;
    }
  };

  void refresh();
  const onVisible = () => void refresh();
  document.addEventListener("visibilitychange", onVisible);
  const poll = window.setInterval(() => void refresh(), POLL_MS);
  const clock = window.setInterval(() => {
    const now = Date.now();
    for (const k of kept.values()) k.card.tick(now);
  }, 1000);
  return () => {
    stopped = true;
    document.removeEventListener("visibilitychange", onVisible);
    window.clearInterval(poll);
    window.clearInterval(clock);
  };
}
