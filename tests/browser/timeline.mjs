// An auditor opens Sessions, follows the session's link, and reads its timeline.
// Env: BASE, TOKEN, SESSION, EXPECT (text the timeline shows), [SHOT].
import { env, run, shot, signIn } from "./lib.mjs";

await run(async ({ page }) => {
  await signIn(page, env("BASE"), env("TOKEN"));
  await page.getByRole("link", { name: "Sessions", exact: true }).click();
  const session = env("SESSION");
  await page.getByRole("link", { name: session }).click();
  await page.waitForURL(new RegExp(`#/sessions/${session}$`));
  const timeline = page.locator("ol.timeline");
  await timeline.getByText(env("EXPECT")).first().waitFor();
  await shot(page, process.env.SHOT || "session-timeline");
  const exportLink = page.getByRole("link", { name: /Export session/ });
  const download = await Promise.all([page.waitForEvent("download"), exportLink.click()]).then(([d]) => d);
  const path = await download.path();
  const { readFileSync } = await import("node:fs");
  const exported = readFileSync(path, "utf8");
  const runs = await page.locator(".summary a[href^='#/runs/']").allTextContents();
  return {
    timeline: await timeline.innerText(),
    summary: await page.locator(".summary").innerText(),
    runs,
    export_lines: exported.split("\n").filter(Boolean).length,
    export_first: exported.split("\n")[0],
  };
});
