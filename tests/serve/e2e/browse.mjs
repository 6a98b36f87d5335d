// End to end: headless Chromium browses a running `clipscope serve` the way a
// person would (overview → unit → example → search → unit), asserting at each step.
// Env: CLIPSCOPE_URL (http://127.0.0.1:PORT/), SCREENSHOT_DIR, SEARCH_WORD (e.g. red).
// Exit 0: passed; 1: failed (the reason on stderr); 77: skipped (no Chromium).
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

const CHROMIUM = '/usr/bin/chromium';
const TOTAL_TIMEOUT_MS = 90_000;
const STEP_TIMEOUT_MS = 20_000;

if (!existsSync(CHROMIUM)) {
  console.log(`SKIP: ${CHROMIUM} not installed`);
  process.exit(77);
}
// Imported only now, so a machine without Chromium skips even without node_modules.
const { chromium } = await import('playwright-core');

const baseUrl = process.env.CLIPSCOPE_URL;
const shotDir = process.env.SCREENSHOT_DIR || '.';
const searchWord = process.env.SEARCH_WORD || 'red';

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);  // playwright kills the browser it launched on exit
}

function pass(message) {
  console.log(`PASS ${message}`);
}

if (!baseUrl) fail('CLIPSCOPE_URL is not set (e.g. http://127.0.0.1:8080/)');
mkdirSync(shotDir, { recursive: true });
const overall = setTimeout(() => fail(`the whole test took longer than ${TOTAL_TIMEOUT_MS / 1000} s`), TOTAL_TIMEOUT_MS);

// Runs one step; any exception fails the test with the step's name.
async function step(name, body) {
  try {
    await body();
  } catch (e) {
    fail(`${name}: ${e.message.split('\nCall log:')[0]}`);
  }
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// Waits until `selector` matches an <img> that has loaded (naturalWidth > 0).
async function waitForLoadedImage(page, selector, what) {
  try {
    await page.waitForFunction(
      (sel) => [...document.querySelectorAll(sel)].some((i) => i.complete && i.naturalWidth > 0),
      selector, { timeout: STEP_TIMEOUT_MS });
  } catch {
    throw new Error(`no loaded image for ${what} (${selector}) within ${STEP_TIMEOUT_MS / 1000} s`);
  }
}

async function waitForUnitTitle(page, unit) {
  try {
    await page.waitForFunction(
      (u) => new RegExp(`\\bunit ${u}(?!\\d)`).test(document.querySelector('[data-testid="unit-title"]')?.textContent ?? ''),
      unit, { timeout: STEP_TIMEOUT_MS });
  } catch {
    const title = await page.getByTestId('unit-title').textContent({ timeout: 1000 }).catch(() => null);
    throw new Error(`unit-title should contain "unit ${unit}", has ${JSON.stringify(title)}`);
  }
}

// Full-page screenshots: lazy images below the fold are loaded first (best effort).
async function screenshot(page, name) {
  await page.evaluate(() => document.querySelectorAll('img[loading="lazy"]').forEach((i) => { i.loading = 'eager'; }));
  await page.waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 5000 }).catch(() => {});
  const file = path.join(shotDir, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// Milliseconds from navigation start to the first unit tile image being loaded.
function firstTileLoadMs() {
  const loaded = [...document.querySelectorAll('[data-testid="unit-tile"] img')].filter((i) => i.complete && i.naturalWidth > 0);
  const ends = loaded.map((i) => performance.getEntriesByName(i.currentSrc)[0]?.responseEnd).filter((t) => t > 0);
  return Math.round(ends.length ? Math.min(...ends) : performance.now());
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.setDefaultTimeout(STEP_TIMEOUT_MS);

// Everything the page reports as wrong: console errors, uncaught exceptions,
// failed requests (images included: none is allowed to fail).
const problems = [];
page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()} (${m.location().url ?? ''})`); });
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });

async function visibleError() {
  const banner = page.getByTestId('error');
  return (await banner.isVisible()) ? (await banner.textContent()).trim() : null;
}

let unit = null;
let layer = null;

await step('a. overview', async () => {
  await page.goto(baseUrl, { waitUntil: 'domcontentloaded' });
  await page.getByTestId('atlas-summary').waitFor({ state: 'visible' });
  await waitForLoadedImage(page, '[data-testid="unit-tile"] img', 'the overview unit tiles');
  const ms = await page.evaluate(firstTileLoadMs);
  console.log(`page_load_ms=${ms}`);
  const tiles = await page.getByTestId('unit-tile').count();
  check(!(await visibleError()), `error banner: ${await visibleError()}`);
  // The featured units (ATLAS/featured.json) come first, each with its reason.
  const featured = page.getByTestId('featured');
  check(await featured.isVisible(), 'no featured section on the overview');
  const featuredUnits = await featured.getByTestId('unit-tile').evaluateAll((ts) => ts.map((t) => t.dataset.unit));
  check(featuredUnits.join(',') === '5,3', `featured units ${featuredUnits.join(',')}, expected 5,3`);
  check((await featured.locator('figcaption').first().textContent()).includes('red: picture 3.0 std'),
    'the featured unit\'s reason is not shown');
  const firstTile = await page.getByTestId('unit-tile').first().getAttribute('data-unit');
  check(firstTile === '5', `the first tile of the page is unit ${firstTile}, not the first featured unit`);
  await screenshot(page, 'overview.png');
  pass(`overview: atlas summary and ${tiles} unit tiles, first tile image loaded after ${ms} ms`);
});

await step('b. unit page', async () => {
  const tile = page.getByTestId('unit-tile').first();
  unit = await tile.getAttribute('data-unit');
  layer = await tile.getAttribute('data-layer');
  check(unit != null && layer != null, 'the first unit tile has no data-unit/data-layer');
  await tile.click();
  await waitForUnitTitle(page, unit);
  await waitForLoadedImage(page, '[data-testid="examples-top"] [data-testid="example"] img', 'the top examples');
  const words = await page.locator('[data-testid="unit-words"] li').count();
  check(words >= 1, 'unit-words has no li (is there a word database for this layer?)');
  const rects = await page.locator('[data-testid="histogram"] svg rect').count();
  check(rects >= 1, 'the histogram has no svg rect');
  const examples = await page.getByTestId('examples-top').getByTestId('example').count();
  // run.sh stored the first featured unit's maximal texts with clipscope maximal-text --atlas.
  const texts = await page.locator('[data-testid="maximal-text"] li').count();
  check(texts >= 1, 'the maximal-text panel lists no text (run.sh stored some for this unit)');
  // With --model, the circuit panel: residual share and the units feeding this one.
  await page.getByTestId('residual-share').waitFor({ state: 'visible' });
  const inputs = await page.locator('[data-testid="circuit-inputs"] li').count();
  check(inputs >= 1, 'the circuit panel lists no input unit');
  await screenshot(page, 'unit.png');
  pass(`unit page: ${layer} unit ${unit} with ${examples} top examples, ${words} words, ${rects} histogram bars, ${texts} maximal texts, ${inputs} input units`);

  await page.getByTestId('examples-top').getByTestId('example').first().click();
  const full = page.getByTestId('full-image');
  await full.waitFor({ state: 'visible' });
  await waitForLoadedImage(page, '[data-testid="full-image"] img', 'the full image');
  await screenshot(page, 'full-image.png');
  await page.keyboard.press('Escape');
  await full.waitFor({ state: 'hidden' });
  pass('full image: the lightbox shows the whole image and closes on Escape');
});

await step(`c. search "${searchWord}"`, async () => {
  const input = page.getByTestId('search-input');
  await input.fill(searchWord);
  await input.press('Enter');
  await page.getByTestId('search-results').waitFor({ state: 'visible' });
  const tile = page.getByTestId('search-words').getByTestId('unit-tile').first();
  await tile.waitFor({ state: 'visible' }).catch(() => {
    throw new Error(`no unit tile in search-words for "${searchWord}" (not in the word database?)`);
  });
  const wordUnit = await tile.getAttribute('data-unit');
  const wordLayer = await tile.getAttribute('data-layer');
  await screenshot(page, 'search.png');
  pass(`search: "${searchWord}" lists word-database units, first ${wordLayer} unit ${wordUnit}`);

  await tile.click();
  const hash = `#/unit/${encodeURIComponent(wordLayer)}/${wordUnit}`;
  await page.waitForFunction((h) => location.hash === h, hash).catch(async () => {
    throw new Error(`URL hash should be ${hash}, is ${await page.evaluate(() => location.hash)}`);
  });
  await waitForUnitTitle(page, wordUnit);

  const res = await fetch(new URL(`/api/words/${encodeURIComponent(searchWord)}?k=1`, baseUrl));
  check(res.ok, `GET /api/words/${searchWord}?k=1: HTTP ${res.status}`);
  const best = (await res.json()).sets?.[0]?.units?.[0]?.unit;
  check(String(best) === wordUnit, `landed on unit ${wordUnit}, but /api/words/${searchWord} ranks unit ${best} first`);
  await waitForLoadedImage(page, '[data-testid="examples-top"] [data-testid="example"] img', 'the landed unit\'s examples');
  await screenshot(page, 'landed-unit.png');
  pass(`search → unit: landed on ${hash}, the word's top unit`);
});

await step('d. maximal text on request', async () => {
  const other = 6;  // a unit run.sh stored no maximal text for
  await page.goto(new URL(`#/unit/${encodeURIComponent(layer)}/${other}`, baseUrl).href);
  await waitForUnitTitle(page, other);
  const panel = page.getByTestId('maximal-text');
  check(await panel.locator('li').count() === 0, `unit ${other} already lists maximal texts`);
  await page.getByTestId('maximal-text-button').click();
  await panel.locator('li').first().waitFor({ state: 'visible' });
  const texts = await panel.locator('li .text').allTextContents();
  check(texts.length >= 1 && texts.every((t) => t.trim().length > 0), `empty maximal texts: ${JSON.stringify(texts)}`);
  await panel.scrollIntoViewIfNeeded();
  await screenshot(page, 'maximal-text.png');
  pass(`maximal text: the button searched unit ${other}'s texts in the background; the first is "${texts[0]}"`);
});

await step('d2. labels and families', async () => {
  await page.goto(new URL(`#/layer/${encodeURIComponent(layer)}`, baseUrl).href);
  await page.getByTestId('tile-label').first().waitFor({ state: 'visible' });
  const labelled = await page.getByTestId('tile-label').count();
  const tiles = await page.getByTestId('unit-tile').count();
  check(labelled === tiles, `${labelled} of ${tiles} tiles show a label (run.sh labelled every unit)`);
  // The family filter keeps one family's units.
  const filter = page.getByTestId('family-filter');
  const options = await filter.locator('option').evaluateAll((os) => os.map((o) => o.value).filter((v) => v));
  check(options.length >= 1, 'the family filter offers no family');
  const family = options[0];
  await filter.selectOption(family);
  await page.waitForFunction((f) => {
    const ts = [...document.querySelectorAll('[data-testid="unit-tile"]')];
    return ts.length > 0 && ts.every((t) => t.title.includes(`family: ${f}`));
  }, family).catch(() => { throw new Error(`the grid does not show only ${family} units after filtering`); });
  const shown = await page.getByTestId('unit-tile').count();
  await screenshot(page, 'family-filter.png');
  // A unit page lists its labels and family; search finds units by a label.
  const first = await page.getByTestId('unit-tile').first().getAttribute('data-unit');
  await page.getByTestId('unit-tile').first().click();
  await waitForUnitTitle(page, first);
  await page.getByTestId('labels-panel').waitFor({ state: 'visible' });
  const labels = await page.locator('[data-testid="unit-labels"] li a').allTextContents();
  check(labels.length === 3, `unit ${first} lists ${labels.length} labels, expected 3`);
  const familyText = await page.getByTestId('unit-family').textContent();
  check(familyText.includes(family), `unit ${first}'s family line "${familyText}" does not name ${family}`);
  await page.getByTestId('labels-panel').scrollIntoViewIfNeeded();
  await screenshot(page, 'labels.png');
  await page.locator('[data-testid="unit-labels"] li a').first().click();
  await page.getByTestId('search-labels').waitFor({ state: 'visible' });
  const found = await page.getByTestId('search-labels').getByTestId('unit-tile').count();
  check(found >= 1, `searching the label "${labels[0]}" lists no labelled unit`);
  pass(`labels: ${labelled} labelled tiles; the ${family} filter shows ${shown} units; unit ${first}'s labels ${labels.join(', ')}; the label search lists ${found} units`);
});

await step('e. no errors in the page', async () => {
  check(!(await visibleError()), `error banner: ${await visibleError()}`);
  check(problems.length === 0, `${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  pass('no console errors, page errors or failed requests');
});

await browser.close();
clearTimeout(overall);
console.log(`screenshots: ${shotDir}`);
