// Opens the OpenResty chat example in Debian's headless Chromium, asks two
// questions (the second in the same conversation) and prints what the page
// showed as one JSON line. Usage: node chat.mjs URL QUESTION1 QUESTION2 [SCREENSHOT]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const [url, first, second, screenshot] = process.argv.slice(2);
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "lua-dify-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run"],
});
try {
  const page = context.pages()[0] || (await context.newPage());
  const eventStreams = [];
  page.on("response", (response) => {
    if (response.url().endsWith("/chat")) eventStreams.push(response.headers()["content-type"]);
  });
  await page.goto(url);
  const answers = [];
  for (const question of [first, second]) {
    await page.fill("#query", question);
    await page.click("#send");
    const done = page.locator(".assistant").nth(answers.length);
    await done.and(page.locator('[data-state="done"], [data-state="error"], [data-state="cut"]'))
      .waitFor({ timeout: 20000 });
    answers.push({ text: await done.textContent(), state: await done.getAttribute("data-state") });
  }
  if (screenshot) await page.screenshot({ path: screenshot });
  const cookies = (await context.cookies()).map((c) => c.name);
  console.log(JSON.stringify({ answers, eventStreams, cookies, html: await page.content() }));
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
