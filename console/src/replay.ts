// SSH channel recordings (asciicast v2) played with the asciinema player, bundled: no CDN, its
// stylesheet is part of the console's CSS file. The cast is fetched with the session cookie and
// handed to the player as data. The player is loaded only when a session has recordings: it
// compiles a WebAssembly terminal as soon as it loads, which the page's CSP allows only with
// 'wasm-unsafe-eval', and no other page needs it.
import { ApiError, enc, getJson, getText } from "./api";
import { errorBox, h, replace } from "./dom";
import { bytes } from "./format";

type Channels = { channels: { channel: number; bytes: number }[] };

/** Fills `section` with one player per recorded channel; returns a cleanup that disposes them. */
export function recordings(section: HTMLElement, session: string): () => void {
  const players: { dispose: () => void }[] = [];
  let stopped = false;
  getJson<Channels>(`/api/v1/sessions/${enc(session)}/recordings`)
    .then(async (body) => {
      const channels = body.channels ?? [];
      if (!channels.length || stopped) return;
      section.append(h("h2", {}, "Recordings"));
      const AsciinemaPlayer = await import("asciinema-player");
      for (const c of channels) {
        const url = `/api/v1/sessions/${enc(session)}/recordings/${c.channel}`;
        const holder = h("div", { class: "player", "data-channel": c.channel });
        section.append(
          h(
            "div",
            { class: "recording" },
            h("h3", {}, `Channel ${c.channel} `, h("span", { class: "size" }, `(${bytes(c.bytes)})`), " ", h("a", { href: url, download: `${session}-${c.channel}.cast` }, "Download .cast")),
            holder,
          ),
        );
        try {
          const cast = await getText(url);
          if (stopped) return;
          players.push(AsciinemaPlayer.create({ data: cast }, holder, { fit: "width", idleTimeLimit: 2, preload: true, controls: true }));
        } catch (e) {
          replace(holder, errorBox(`Could not load the recording: ${e instanceof ApiError ? e.message : String(e)}`));
        }
      }
    })
    .catch((e) => {
      if (!(e instanceof ApiError && e.status === 404)) section.append(errorBox(`Recordings: ${String(e)}`));
    });
  return () => {
    stopped = true;
    players.forEach((p) => p.dispose());
  };
}
