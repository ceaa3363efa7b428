// An SSH session's recording plays in the asciinema player on the session page, under the
// console's CSP. Env: BASE, TOKEN, SESSION, EXPECT (text the terminal shows once played).
import { env, run, shot, signIn } from "./lib.mjs";

await run(async ({ page }) => {
  const base = env("BASE");
  await signIn(page, base, env("TOKEN"));
  await page.goto(`${base}/#/sessions/${encodeURIComponent(env("SESSION"))}`);
  const player = page.locator(".recording .ap-player").first();
  await player.waitFor();
  await player.locator(".ap-overlay-start, .ap-play-button").first().click().catch(() => {});
  const term = page.locator(".recording .ap-term").first();
  await term.getByText(env("EXPECT")).first().waitFor();
  await shot(page, "session-replay");
  return {
    channels: await page.locator(".recording h3").allTextContents(),
    terminal: await term.innerText(),
  };
});
