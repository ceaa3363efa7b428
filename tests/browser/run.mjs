// An auditor filters Sessions by an agent run, opens one of its sessions, follows the link to
// the run, reads the run's timeline across its sessions and exports it; then checks Audit.
// Env: BASE, TOKEN, RUN, EXPECT (a statement of the run).
import { readFileSync } from "node:fs";
import { env, run, shot, signIn } from "./lib.mjs";

await run(async ({ page }) => {
  await signIn(page, env("BASE"), env("TOKEN"));
  const runId = env("RUN");
  await page.getByRole("link", { name: "Sessions", exact: true }).click();
  await page.getByLabel("Run").fill(runId);
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/#\/sessions\?run=/);
  const rows = page.locator("table.list tbody tr");
  await rows.first().waitFor();
  const listed = await rows.count();
  await rows.first().locator("td:nth-child(2) a").click();
  await page.locator(".summary").getByRole("link", { name: runId }).click();
  await page.waitForURL(new RegExp(`#/runs/${runId}$`));
  const timeline = page.locator("ol.timeline");
  await timeline.getByText(env("EXPECT")).first().waitFor();
  await shot(page, "run-timeline");
  const text = await timeline.innerText();
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: /Export run/ }).click()]);
  const exported = readFileSync(await download.path(), "utf8").split("\n").filter(Boolean);

  await page.getByRole("link", { name: "Audit", exact: true }).click();
  const verdict = page.getByRole("status");
  await verdict.waitFor();
  await shot(page, "audit");
  return {
    listed,
    timeline: text,
    export_lines: exported.length,
    export_runs: [...new Set(exported.map((l) => JSON.parse(l).body?.run_id ?? null))],
    audit: await page.locator("main").innerText(),
  };
});
