// Page-load times of clipscope serve in headless Chromium, for docs/performance.md
// (bench/serve_e2e.sh runs it against the synthetic 100,000 x 2,560 atlas).
// Env: CLIPSCOPE_URL, LAYER, UNITS (comma-separated units to open), RUNS.
import { chromium } from 'playwright-core';

const base = process.env.CLIPSCOPE_URL;
const layer = process.env.LAYER;
const units = (process.env.UNITS || '0').split(',');
const runs = Number(process.env.RUNS || 5);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});

// Milliseconds from navigation until `ready` holds, each run in a fresh context (cold cache).
async function timed(url, ready) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const start = Date.now();
  await page.goto(url);
  await page.waitForFunction(ready, null, { timeout: 60000 });
  const ms = Date.now() - start;
  await context.close();
  return ms;
}

// The first `count` images matching selector (all when omitted) have loaded. The page
// loads the first screenful of tiles eagerly and the rest lazily, on scroll.
const allLoaded = (selector, count = 1e9) => `(() => { const imgs = [...document.querySelectorAll('${selector}')].slice(0, ${count});
  return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0); })()`;

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
const overview = [];
for (let i = 0; i < runs; i++)
  overview.push(await timed(base, allLoaded('[data-testid=unit-tile] img', 36)));
results.overview_first_36_tiles_ms = { median: median(overview), runs: overview };
const unit = [];
for (let i = 0; i < runs; i++) {
  const u = units[i % units.length];
  unit.push(await timed(`${base}#/unit/${encodeURIComponent(layer)}/${u}`,
    `${allLoaded('[data-testid=examples-top] img')} && document.querySelectorAll('[data-testid=unit-words] li').length > 0
     && document.querySelector('[data-testid=histogram] svg rect') !== null`));
}
results.unit_page_ms = { median: median(unit), runs: unit };
console.log(JSON.stringify(results));
await browser.close();
