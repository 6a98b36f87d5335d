// clipscope serve: the page. One view at a time, chosen by location.hash so every
// view has a permalink; everything it shows comes from the JSON API (docs/serve.md).

const PAGE_SIZE = 120;   // unit tiles per page of a layer grid
const EXAMPLES_K = 20;   // examples and words per unit
const SEARCH_K = 12;
const WORD_K = 20;
const NEIGHBORS_K = 12;
const POLL_MS = 500;     // render-job polling interval
const TILE_PX = 96;
const EAGER_TILES = 36;  // about the first screenful of the first grid: loaded at once, not lazily
const EXAMPLE_PX = 120;
const VIS_PX = 192;
const FULL_PX = 448;

const view = document.getElementById('view');
const searchInput = document.getElementById('search-input');

// ----- small helpers ------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Fetches an API endpoint; a non-2xx answer throws its {"error": …} message.
async function api(path, options = {}) {
  let res;
  try {
    res = await fetch(path, options);
  } catch (e) {
    throw new ApiError(0, `${path}: the server cannot be reached (${e.message})`);
  }
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: reported below
  }
  if (!res.ok) throw new ApiError(res.status, body?.error ?? `${path}: HTTP ${res.status}`);
  if (body === null) throw new ApiError(res.status, `${path}: the answer is not JSON`);
  return body;
}

const enc = encodeURIComponent;

function decode(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;  // a stray '%' typed by hand
  }
}

const href = {
  overview: () => '#/',
  layer: (layer) => `#/layer/${enc(layer)}`,
  unit: (layer, unit) => `#/unit/${enc(layer)}/${unit}`,
  search: (text) => `#/search/${enc(text)}`,
  word: (word) => `#/word/${enc(word)}`,
};

// Builds an element: h('a', {href, class, testid, onclick}, ...children).
function h(tag, props, ...children) {
  const node = document.createElement(tag);
  setProps(node, props);
  for (const child of children.flat(Infinity))
    if (child != null && child !== false) node.append(child instanceof Node ? child : String(child));
  return node;
}

// The same for SVG, whose elements live in their own namespace.
function s(tag, props, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setProps(node, props);
  for (const child of children.flat(Infinity))
    if (child != null && child !== false) node.append(child instanceof Node ? child : String(child));
  return node;
}

function setProps(node, props) {
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value == null || value === false) continue;
    if (key === 'class') node.setAttribute('class', value);
    else if (key === 'testid') node.setAttribute('data-testid', value);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'style' && typeof value === 'object') {
      for (const [name, v] of Object.entries(value)) node.style.setProperty(name, v);  // custom properties too
    }
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
}

// A value as the atlas reports it: a few significant digits, '—' for null.
function num(v) {
  if (v == null || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
  return v.toFixed(a >= 100 ? 1 : a >= 1 ? 2 : 3);
}

// In σ (RMS units), one decimal; no "-0.0σ".
const sigma = (v) => (v == null || !Number.isFinite(v) ? '' : `${(Math.abs(v) < 0.05 ? 0 : v).toFixed(1)}σ`);
const count = (n) => (n == null ? '—' : Number(n).toLocaleString('en-US'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function img(src, size, alt, extra = {}) {
  return h('img', {
    src, alt, width: size, height: size, loading: 'lazy',
    // A missing image leaves a grey square rather than a broken-image icon.
    onerror: (e) => e.target.classList.add('broken'), ...extra,
  });
}

function note(text, cls = 'note') {
  return h('p', { class: cls }, text);
}

function section(title, testid, ...body) {
  return h('section', { class: 'panel', testid }, h('h2', null, title), ...body);
}

// ----- error banner -------------------------------------------------------------

const errorBox = document.getElementById('error');

function showError(message) {
  document.getElementById('error-text').textContent = message;
  errorBox.hidden = false;
}

function clearError() {
  errorBox.hidden = true;
}

document.getElementById('error-close').addEventListener('click', clearError);
window.addEventListener('unhandledrejection', (e) => showError(e.reason?.message ?? String(e.reason)));

// ----- lightbox -----------------------------------------------------------------

const lightbox = document.getElementById('lightbox');
const lightboxImg = document.getElementById('lightbox-img');

function openLightbox(src, caption) {
  lightboxImg.removeAttribute('src');  // never show the previous image while this one loads
  lightboxImg.src = src;
  document.getElementById('lightbox-caption').replaceChildren(...caption);
  lightbox.hidden = false;
}

function closeLightbox() {
  lightbox.hidden = true;
}

lightbox.addEventListener('click', closeLightbox);
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !lightbox.hidden) closeLightbox();
});

// ----- the atlas (fetched once) -------------------------------------------------

let atlasPromise = null;

function getAtlas() {
  atlasPromise ??= api('/api/atlas').catch((e) => {
    atlasPromise = null;  // try again on the next view
    throw e;
  });
  return atlasPromise;
}

function findLayer(atlas, name) {
  return atlas.layers.find((l) => l.name === name || l.requested === name) ?? null;
}

function showAtlasInHeader(atlas) {
  document.getElementById('atlas-name').textContent = atlas.name;
  document.getElementById('atlas-model').textContent =
    `${atlas.model} · ${atlas.live ? 'model loaded' : 'no model'}`;
}

// ----- unit tiles ---------------------------------------------------------------

// The one tile every list of units uses: thumbnail, unit number, a score, and the
// unit's label when it has one (clipscope label).
function unitTile(layer, unit, thumb, score, title, eager = false, label = null) {
  return h('a', {
    class: 'tile', href: href.unit(layer, unit), testid: 'unit-tile',
    dataset: { layer, unit: String(unit) }, title: title ?? `${layer} · unit ${unit}`,
  },
  // Lazy images wait for a layout pass; those certainly on screen need not.
  img(thumb, TILE_PX, `${layer} unit ${unit}`, eager ? { loading: 'eager' } : {}),
  h('span', { class: 'tile-caption' }, h('b', null, unit), score == null ? null : h('span', null, score)),
  label == null ? null : h('span', { class: 'tile-label', testid: 'tile-label' }, label));
}

function tileGrid(layer, units, scoreOf) {
  if (!units.length) return note('no units');
  return h('div', { class: 'tiles' }, units.map((u) => unitTile(layer, u.unit, u.thumb, scoreOf(u))));
}

// ----- router -------------------------------------------------------------------

let generation = 0;  // bumped by every navigation: answers for an older view are dropped

function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/');
  const rest = () => decode(parts.slice(1).join('/'));
  switch (parts[0]) {
    case 'layer': return { name: 'layer', layer: decode(parts[1] ?? '') };
    case 'unit': return { name: 'unit', layer: decode(parts[1] ?? ''), unit: parts[2] ?? '' };
    case 'search': return { name: 'search', text: rest() };
    case 'word': return { name: 'word', word: rest() };
    default: return { name: 'overview' };
  }
}

const views = {
  overview: overviewView, layer: layerView, unit: unitView, search: searchView, word: wordView,
};

async function route() {
  const mine = ++generation;
  const alive = () => mine === generation;
  clearError();
  closeLightbox();
  const r = parseRoute(location.hash);
  if (r.name !== 'search') searchInput.value = '';
  view.replaceChildren(note('loading…', 'loading'));
  window.scrollTo(0, 0);  // a new view starts at its top, as a new page would
  try {
    await views[r.name](r, alive);
  } catch (e) {
    if (!alive()) return;
    view.replaceChildren();
    showError(e.message);
  }
}

window.addEventListener('hashchange', route);

// ----- overview and layer grids -------------------------------------------------

async function overviewView(r, alive) {
  const atlas = await getAtlas();
  if (!alive()) return;
  document.title = `${atlas.name} — clipscope`;
  view.replaceChildren(atlasSummary(atlas), featuredSection(atlas.featured),
    ...atlas.layers.map((l, i) => layerSection(l, alive, false, i === 0 && !atlas.featured)));
}

// The units an analysis chose to show first (ATLAS/featured.json: the tour's
// multimodal units), each titled with why it was chosen.
function featuredSection(featured) {
  if (!featured || !featured.units?.length) return null;
  return section(featured.title, 'featured',
    featured.description ? note(featured.description) : null,
    h('div', { class: 'tiles' }, featured.units.map((u) =>
      h('figure', { class: 'featured-unit' },
        unitTile(u.layer, u.unit, u.thumb, null, u.note, true),
        h('figcaption', null, u.note)))));
}

function atlasSummary(atlas) {
  const rows = [
    ['model', atlas.model],
    ['model sha256', atlas.model_sha256 ? String(atlas.model_sha256).slice(0, 16) + '…' : '—'],
    ['precision', atlas.precision],
    ['input', `${atlas.n_px} px`],
    ['images', `${count(atlas.images)} readable · ${count(atlas.skipped)} skipped`],
    ['examples kept (k)', atlas.k],
    ['status', atlas.status],
    ['live model', atlas.live ? 'yes (text search, image search, rendering, maximal text)' : 'no (serve with --model)'],
    ['labels', atlas.labels ? 'loaded' : 'none'],
  ];
  return h('section', { class: 'summary', testid: 'atlas-summary' },
    h('h1', null, atlas.name),
    h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v ?? '—')])),
    atlas.command ? h('pre', { class: 'command', title: 'the command that built this atlas' }, atlas.command) : null);
}

function layerFacts(layer) {
  const parts = [
    `${count(layer.units)} units`,
    `grid ${layer.grid?.[0]}×${layer.grid?.[1]}`,
    layer.layout,
    layer.relu ? 'ReLU' : null,
    layer.words == null ? 'no words' : `${count(layer.words)} words`,
    `${count(layer.vis)} visualizations`,
    layer.matrices?.length ? `matrices: ${layer.matrices.join(', ')}` : null,
  ];
  return parts.filter(Boolean).join(' · ');
}

// A layer's unit grid with paging; `full` (the layer page) adds the sort selector;
// `first` (the grid at the top of the page) loads its first screenful eagerly.
function layerSection(layer, alive, full, first) {
  const state = { offset: 0, sort: 'unit', family: '', total: layer.units, loading: false };
  const grid = h('div', { class: 'tiles grid-reserve' });
  const position = h('span', { class: 'position' });
  const prev = h('button', { type: 'button', onclick: () => go(state.offset - PAGE_SIZE) }, '‹ prev');
  const next = h('button', { type: 'button', onclick: () => go(state.offset + PAGE_SIZE) }, 'next ›');
  const sort = full ? h('select', { 'aria-label': 'sort', onchange: (e) => { state.sort = e.target.value; go(0); } },
    h('option', { value: 'unit' }, 'sort: unit'), h('option', { value: 'max' }, 'sort: max activation')) : null;
  // With clipscope families run on the layer: show one family's units.
  const families = layer.families ? h('select', {
    'aria-label': 'family', testid: 'family-filter', onchange: (e) => { state.family = e.target.value; go(0); },
  }, h('option', { value: '' }, 'all families'),
  Object.entries(layer.families).filter(([, n]) => n > 0).map(([f, n]) => h('option', { value: f }, `${f} (${count(n)})`)))
    : null;
  const pager = h('div', { class: 'pager' }, sort, families, prev, position, next);

  function updatePager(total) {
    const end = Math.min(total, state.offset + PAGE_SIZE);
    position.textContent = total ? `${count(state.offset + 1)}–${count(end)} of ${count(total)}` : 'none';
    prev.disabled = state.loading || state.offset <= 0;
    next.disabled = state.loading || end >= total;
    pager.hidden = total <= PAGE_SIZE && !full && !families;
  }

  async function go(offset) {
    state.offset = Math.max(0, Math.min(offset, Math.max(0, state.total - 1)));
    state.loading = true;
    updatePager(state.total);
    try {
      const family = state.family ? `&family=${enc(state.family)}` : '';
      const res = await api(`/api/layers/${enc(layer.name)}/units?offset=${state.offset}&limit=${PAGE_SIZE}&sort=${state.sort}${family}`);
      if (!alive()) return;
      grid.replaceChildren(...res.items.map((u, i) =>
        unitTile(layer.name, u.unit, u.thumb, num(u.max),
          `unit ${u.unit} · max ${num(u.max)} · rms ${num(u.rms)} · thumbnail: ${u.thumb_kind}`
          + (u.label ? ` · label: ${u.label}` : '') + (u.family ? ` · family: ${u.family}` : ''),
          first && i < EAGER_TILES, u.label)));
      if (!res.items.length) grid.replaceChildren(note('no units of this family'));
      state.loading = false;
      state.total = res.units;
      updatePager(res.units);
    } catch (e) {
      state.loading = false;
      updatePager(state.total);
      if (alive()) showError(e.message);
    }
  }

  go(0);
  const title = full ? h('h1', null, layer.name) : h('h2', null, h('a', { href: href.layer(layer.name) }, layer.name));
  return h('section', { class: 'layer', dataset: { layer: layer.name } },
    h('div', { class: 'layer-head' }, title, h('span', { class: 'facts-inline' }, layerFacts(layer)), pager),
    layer.requested && layer.requested !== layer.name ? note(`indexed as ${layer.requested}`) : null,
    grid);
}

async function layerView(r, alive) {
  const atlas = await getAtlas();
  if (!alive()) return;
  const layer = findLayer(atlas, r.layer);
  if (!layer)
    throw new Error(`layer '${r.layer}': not in this atlas (it has ${atlas.layers.map((l) => l.name).join(', ')})`);
  document.title = `${layer.name} — clipscope`;
  view.replaceChildren(h('nav', { class: 'crumbs' }, h('a', { href: href.overview() }, atlas.name), ' / ', layer.name),
    layerSection(layer, alive, true, true));
}

// ----- unit page ----------------------------------------------------------------

function unitNumber(text) {
  if (!/^\d+$/.test(text)) throw new Error(`unit '${text}': not an integer`);
  return Number(text);
}

async function unitView(r, alive) {
  const unitId = unitNumber(r.unit);
  const [atlas, unit] = await Promise.all([
    getAtlas(), api(`/api/units/${enc(r.layer)}/${unitId}?k=${EXAMPLES_K}`)]);
  if (!alive()) return;
  const layer = findLayer(atlas, unit.layer);
  document.title = `${unit.layer} · unit ${unit.unit} — clipscope`;
  const neighbors = neighborsPanel(unit, layer, alive);
  const circuit = circuitPanel(unit, atlas, alive);
  view.replaceChildren(
    unitHeader(unit, atlas),
    h('div', { class: 'unit-layout' },
      h('div', { class: 'unit-main' }, visPanel(unit, atlas, alive), examplesPanel(unit)),
      h('aside', { class: 'unit-side' },
        labelsPanel(unit), statsPanel(unit), histogramPanel(unit), wordsPanel(unit), maximalTextPanel(unit, alive),
        condprobPanel(unit),
        neighbors.panel, circuit.panel)));
  neighbors.load();
  circuit.load();
}

function unitHeader(unit, atlas) {
  const link = (u, rel) => {
    const text = rel === 'prev' ? `‹ unit ${u}` : `unit ${u} ›`;
    return u >= 0 && u < unit.units
      ? h('a', { class: 'step', href: href.unit(unit.layer, u), rel, title: 'arrow keys step through units' }, text)
      : h('span', { class: 'step disabled' }, rel === 'prev' ? '‹ first unit' : 'last unit ›');
  };
  const permalink = location.origin + location.pathname + unit.permalink;
  return h('div', { class: 'unit-head' },
    h('nav', { class: 'crumbs' }, h('a', { href: href.overview() }, atlas.name), ' / ',
      h('a', { href: href.layer(unit.layer) }, unit.layer)),
    h('h1', { testid: 'unit-title' }, `${unit.layer} · unit ${unit.unit}`),
    h('div', { class: 'unit-nav' },
      link(unit.unit - 1, 'prev'),
      link(unit.unit + 1, 'next'),
      h('a', { class: 'permalink', href: permalink, testid: 'permalink', title: permalink }, 'permalink')));
}

// Left and right arrows step through units, as in a slide viewer.
document.addEventListener('keydown', (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey || !lightbox.hidden) return;
  if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
  const rel = { ArrowLeft: 'prev', ArrowRight: 'next' }[e.key];
  const link = rel && view.querySelector(`.unit-nav a[rel="${rel}"]`);
  if (link) location.hash = link.getAttribute('href');
});

// Feature visualizations, or (with a live model) a button that renders one.
const RENDER_JOB = { kind: 'render', path: 'render', testid: 'render', failed: 'Rendering failed' };

function visPanel(unit, atlas, alive) {
  const box = h('div', { class: 'vis', testid: 'vis' });
  if (unit.vis.length) {
    box.append(...unit.vis.map((v) => visFigure(unit, v)));
  } else if (unit.job) {
    pollJob(RENDER_JOB, unit.job, box, alive, unit);  // a render already under way (started here, or elsewhere)
  } else if (atlas.live) {
    box.append(note('No feature visualization of this unit yet.'), jobButton(RENDER_JOB, unit, box, alive, 'Render feature visualization'));
  } else {
    box.append(note('No feature visualization of this unit (clipscope visualize renders them; serve with --model to render here).'));
  }
  return section('Feature visualization', null, box);
}

function visFigure(unit, v) {
  const caption = [h('b', null, v.label), ` · ${v.kind}`, v.activation == null ? '' : ` · act ${num(v.activation)}`];
  return h('figure', { class: 'vis-item' },
    h('button', { type: 'button', class: 'plain', title: 'enlarge', onclick: () => openLightbox(v.url, [`${unit.layer} · unit ${unit.unit} · `, ...caption]) },
      img(v.url, VIS_PX, `feature visualization ${v.label}`)),
    h('figcaption', null, ...caption));
}

// Maximal texts (clipscope maximal-text --atlas, or computed here with a live model):
// the texts whose embedding points most along the unit's direction, by cosine.
const TEXT_JOB = { kind: 'maximal-text', path: 'maximal-text', testid: 'maximal-text', failed: 'The search failed' };
const MAXIMAL_TEXTS_SHOWN = 10;

function maximalTextPanel(unit, alive) {
  const box = h('div', { class: 'maximal-text', testid: 'maximal-text' });
  for (const r of unit.maximal_texts ?? []) {
    const o = r.options ?? {};
    box.append(
      h('p', { class: 'note' }, `${r.method}, at most ${o.max_tokens ?? '?'} tokens, seed ${o.seed ?? '?'} · ${r.evaluated} texts scored · ${r.created}`),
      h('ol', { class: 'words texts' }, r.texts.slice(0, MAXIMAL_TEXTS_SHOWN).map((t) =>
        h('li', { style: { '--bar': `${Math.max(0, 100 * t.score).toFixed(1)}%` } },
          h('span', { class: 'text' }, t.text), h('span', { class: 'num', title: 'cosine with the unit\'s direction' }, num(t.score))))));
  }
  if (unit.maximal_text_job) {
    const progress = h('div');
    box.append(progress);
    pollJob(TEXT_JOB, unit.maximal_text_job, progress, alive, unit);
  } else if (unit.can_find_text) {
    const slot = h('div');
    slot.append(jobButton(TEXT_JOB, unit, slot, alive, unit.maximal_texts?.length ? 'Search again' : 'Find maximal text'));
    if (!unit.maximal_texts?.length) box.append(note('No maximal text of this unit yet.'));
    box.append(slot);
  } else if (!unit.maximal_texts?.length) {
    box.append(note('No maximal text of this unit (clipscope maximal-text --atlas stores them; serve with --model to search here, for a layer that feeds the embedding).'));
  }
  return section('Maximal text', null, box);
}

// A button that starts a job of the unit (a render or a maximal-text search).
function jobButton(kind, unit, box, alive, text) {
  const button = h('button', { type: 'button', class: 'primary', testid: `${kind.testid}-button` }, text);
  button.addEventListener('click', () => startJob(kind, unit, box, button, alive));
  return button;
}

async function startJob(kind, unit, box, button, alive) {
  button.disabled = true;
  try {
    const { job } = await api(`/api/units/${enc(unit.layer)}/${unit.unit}/${kind.path}`, { method: 'POST' });
    if (alive()) pollJob(kind, job, box, alive, unit);
  } catch (e) {
    button.disabled = false;
    if (alive()) showError(e.message);
  }
}

// Shows a job's progress until it is done (then reloads the unit) or failed
// (then offers to try again).
async function pollJob(kind, job, box, alive, unit) {
  const bar = h('progress', { max: Math.max(1, job.steps), value: job.step });
  const label = h('span', { class: 'progress-label' });
  box.replaceChildren(h('div', { class: 'progress', testid: `${kind.testid}-progress` }, bar, label));
  while (alive()) {
    bar.max = Math.max(1, job.steps);
    bar.value = job.step;
    label.textContent = `${job.status} · step ${job.step}/${job.steps}`;
    if (job.status === 'done') {
      route();  // the unit now has its result
      return;
    }
    if (job.status === 'failed') {
      box.append(note(`${kind.failed}: ${job.error || 'unknown error'}`, 'note failed'), jobButton(kind, unit, box, alive, 'Try again'));
      return;
    }
    await sleep(POLL_MS);
    if (!alive()) return;
    try {
      job = await api(`/api/jobs/${job.id}`);
    } catch (e) {
      if (alive()) showError(e.message);
      return;
    }
  }
}

const LISTS = {
  max: { top: 'top_max', bottom: 'bottom_min', topTitle: 'Top activating (max over cells)', bottomTitle: 'Bottom (min over cells)' },
  mean: { top: 'top_mean', bottom: 'bottom_mean', topTitle: 'Top activating (mean over cells)', bottomTitle: 'Bottom (mean over cells)' },
};

// Dataset examples, top and bottom, by either quantity (tabs).
function examplesPanel(unit) {
  const top = h('div', { class: 'examples', testid: 'examples-top' });
  const bottom = h('div', { class: 'examples', testid: 'examples-bottom' });
  const topTitle = h('h3');
  const bottomTitle = h('h3');
  const tabs = h('div', { class: 'tabs', role: 'tablist' });

  function show(quantity) {
    const lists = LISTS[quantity];
    topTitle.textContent = lists.topTitle;
    bottomTitle.textContent = lists.bottomTitle;
    fillExamples(top, unit, lists.top);
    fillExamples(bottom, unit, lists.bottom);
    for (const tab of tabs.children) tab.setAttribute('aria-selected', String(tab.dataset.quantity === quantity));
  }

  for (const quantity of Object.keys(LISTS))
    tabs.append(h('button', { type: 'button', role: 'tab', dataset: { quantity }, onclick: () => show(quantity) }, quantity));
  show('max');
  return h('section', { class: 'panel' },
    h('div', { class: 'panel-head' }, h('h2', null, 'Dataset examples'), tabs),
    topTitle, top, bottomTitle, bottom);
}

function fillExamples(box, unit, list) {
  const rows = unit.examples?.[list] ?? [];
  box.replaceChildren(...(rows.length ? rows.map((e) => exampleElement(unit, list, e)) : [note('no examples')]));
}

function exampleElement(unit, list, e) {
  const value = `${num(e.value)}${e.std == null ? '' : ` · ${sigma(e.std)}`}`;
  const open = () => openLightbox(e.full, [
    h('b', null, `image ${e.image}`), ` · value ${num(e.value)}`, e.std == null ? '' : ` (${sigma(e.std)})`,
    ` · cell ${e.cell} · ${list} #${e.rank + 1} · ${unit.layer} unit ${unit.unit}`]);
  return h('button', { type: 'button', class: 'example', testid: 'example', title: `image ${e.image} · cell ${e.cell}`, onclick: open },
    img(e.crop, EXAMPLE_PX, `image ${e.image}`),
    h('span', { class: 'example-caption' }, value));
}

function statsPanel(unit) {
  const keys = ['count', 'nonfinite', 'mean', 'std', 'rms', 'min', 'max'];
  const cell = (q, k) => h('td', null, k === 'count' || k === 'nonfinite' ? count(unit.stats?.[q]?.[k]) : num(unit.stats?.[q]?.[k]));
  return section('Statistics', 'stats',
    h('table', { class: 'stats' },
      h('thead', null, h('tr', null, h('th'), h('th', null, 'max over cells'), h('th', null, 'mean over cells'))),
      h('tbody', null, keys.map((k) => h('tr', null, h('th', null, k === 'count' ? 'images' : k), cell('max', k), cell('mean', k))))));
}

// ----- charts -------------------------------------------------------------------

// Round tick positions in [lo, hi]: steps of 1, 2 or 5 × 10^n, at most `most`.
function ticks(lo, hi, most = 7) {
  const span = Math.max(hi - lo, 1e-9);
  let step = 10 ** Math.floor(Math.log10(span / most));
  for (const m of [1, 2, 5, 10]) if (span / (step * m) <= most) { step *= m; break; }
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) out.push(Number(t.toFixed(6)));
  return out;
}

// The x axis of a chart in σ units: a baseline with labelled ticks.
function sigmaAxis(x, lo, hi, y, left, right) {
  return s('g', { class: 'axis' },
    s('line', { x1: left, x2: right, y1: y, y2: y }),
    ticks(lo, hi).map((t) => s('g', null,
      s('line', { x1: x(t), x2: x(t), y1: y, y2: y + 4 }),
      s('text', { x: x(t), y: y + 15, 'text-anchor': 'middle' }, `${t}σ`))));
}

// Counts per bin of the unit's activation (max over cells) in RMS units; a log
// scale keeps the tail, where the top examples live, visible.
function histogramPanel(unit) {
  const hist = unit.histogram;
  const box = h('div', { class: 'chart', testid: 'histogram' });
  const counts = hist?.counts ?? [];
  let first = counts.findIndex((c) => c > 0);
  let last = counts.length - 1 - [...counts].reverse().findIndex((c) => c > 0);
  if (first < 0) {
    box.append(note('no values'));
    return section('Activation histogram', null, box);
  }
  if (first === last) { first = Math.max(0, first - 1); last = Math.min(counts.length - 1, last + 1); }
  const W = 360, H = 150, L = 8, R = 8, T = 8, B = 24;
  const lo = hist.lo + first * hist.width, hi = hist.lo + (last + 1) * hist.width;
  const x = (v) => L + ((v - lo) / (hi - lo)) * (W - L - R);
  const peak = Math.log1p(Math.max(...counts));
  const y = (c) => (H - B) - (Math.log1p(c) / peak) * (H - B - T);
  const bars = [];
  for (let i = first; i <= last; ++i) {
    if (!counts[i]) continue;
    const a = hist.lo + i * hist.width;
    bars.push(s('rect', { x: x(a), y: y(counts[i]), width: Math.max(0.5, x(a + hist.width) - x(a) - 0.5), height: (H - B) - y(counts[i]) },
      s('title', null, `[${num(a)}σ, ${num(a + hist.width)}σ): ${count(counts[i])} images`)));
  }
  const total = counts.reduce((a, b) => a + b, 0);
  box.append(s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': 'activation histogram' },
    s('g', { class: 'bars' }, bars), sigmaAxis(x, lo, hi, H - B, L, W - R)));
  return section('Activation histogram', null, box,
    note(`${count(total)} images · ${hist.quantity} over cells, in units of the RMS · bin ${hist.width}σ · log count`));
}

const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#86bcb6', '#d37295'];
const OTHER_COLOR = '#c9ccd1';

// P(label | activation bucket) as stacked bars. At most PALETTE.length labels get
// their own colour (those peaking highest); the rest stack as "other".
function condprobPanel(unit) {
  const cp = unit.condprob;
  if (!cp) return null;
  const box = h('div', { class: 'chart', testid: 'condprob' });
  const buckets = cp.lo.length;
  const peak = (i) => Math.max(...cp.p[i]);
  const order = cp.labels.map((_, i) => i).sort((a, b) => peak(b) - peak(a));
  const shown = order.slice(0, cp.labels.length > PALETTE.length ? PALETTE.length - 1 : PALETTE.length);
  const rest = order.slice(shown.length);
  const series = shown.map((i, n) => ({ label: cp.labels[i], color: PALETTE[n], p: cp.p[i] }));
  if (rest.length) series.push({ label: `other (${rest.length})`, color: OTHER_COLOR, p: cp.lo.map((_, b) => rest.reduce((a, i) => a + cp.p[i][b], 0)) });

  const W = 360, H = 170, L = 30, R = 8, T = 8, B = 24;
  const lo = cp.lo[0], hi = cp.hi[buckets - 1];
  const x = (v) => L + ((v - lo) / (hi - lo || 1)) * (W - L - R);
  const y = (p) => (H - B) - p * (H - B - T);
  const rects = [];
  for (let b = 0; b < buckets; ++b) {
    const x0 = x(cp.lo[b]) + 0.5, width = Math.max(0.5, x(cp.hi[b]) - x(cp.lo[b]) - 1);
    if (!cp.labelled[b]) {
      rects.push(s('rect', { x: x0, y: y(1), width, height: y(0) - y(1), class: 'empty' }, s('title', null, `[${num(cp.lo[b])}σ, ${num(cp.hi[b])}σ): no labelled images`)));
      continue;
    }
    let acc = 0;
    for (const sr of series) {
      const p = sr.p[b];
      if (p <= 0) continue;
      rects.push(s('rect', { x: x0, y: y(acc + p), width, height: y(acc) - y(acc + p), fill: sr.color },
        s('title', null, `${sr.label}: ${(100 * p).toFixed(1)}% of ${count(cp.labelled[b])} images in [${num(cp.lo[b])}σ, ${num(cp.hi[b])}σ)`)));
      acc += p;
    }
  }
  const yAxis = s('g', { class: 'axis' }, [0, 0.5, 1].map((p) => s('g', null,
    s('line', { x1: L - 4, x2: L, y1: y(p), y2: y(p) }),
    s('text', { x: L - 6, y: y(p) + 3, 'text-anchor': 'end' }, String(p)))));
  box.append(s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': 'conditional probability of labels' },
    rects, yAxis, sigmaAxis(x, lo, hi, H - B, L, W - R)));
  box.append(h('ul', { class: 'legend' }, series.map((sr) =>
    h('li', null, h('span', { class: 'swatch', style: { background: sr.color } }), sr.label))));
  return section('Conditional probability', null, box,
    note(`P(label | activation) per bucket of the max over cells (σ) · ${count(cp.labelled.reduce((a, b) => a + b, 0))} labelled images`));
}

// ----- words and neighbours -----------------------------------------------------

// The unit's automatic labels (clipscope label) and family (clipscope families).
function labelsPanel(unit) {
  if (!unit.labels?.length && !unit.family) return null;
  return section('Labels', 'labels-panel',
    unit.labels?.length ? h('ol', { class: 'words', testid: 'unit-labels' }, unit.labels.map((l) =>
      h('li', null, h('a', { href: href.search(l.label) }, l.label), h('span', { class: 'num' }, num(l.score)))))
      : null,
    unit.label_method && unit.labels?.length ? note(`by ${unit.label_method} (CLIP-Dissect)`) : null,
    unit.family ? h('p', { testid: 'unit-family' }, 'Family: ', h('b', null, unit.family.family),
      unit.family.words?.length ? ` (from ${unit.family.words.join(', ')})` : '') : null);
}

function wordsPanel(unit) {
  if (unit.words == null)
    return section('Most activating words', null, h('div', { testid: 'unit-words' }, note('no word database for this layer')));
  if (!unit.words.length)
    return section('Most activating words', null, h('div', { testid: 'unit-words' }, note('no words')));
  const top = Math.max(...unit.words.map((w) => Math.abs(w.value ?? 0)), 1e-12);
  return section('Most activating words', null,
    h('ol', { class: 'words', testid: 'unit-words' }, unit.words.map((w) =>
      h('li', { style: { '--bar': `${Math.max(0, (100 * (w.value ?? 0)) / top).toFixed(1)}%` } },
        h('a', { href: href.word(w.word) }, w.word), h('span', { class: 'num' }, num(w.value))))));
}

// Nearest units, by correlation over images or by word profiles. The default is
// one the layer supports, so a plain unit page asks for nothing that must fail.
function neighborsPanel(unit, layer, alive) {
  const box = h('div', { class: 'neighbors', testid: 'neighbors' });
  const canCorrelate = !layer || (layer.matrices ?? []).includes('max');
  const canWords = !layer || layer.words != null;
  let by = canCorrelate || !canWords ? 'correlation' : 'words';
  const select = h('select', { 'aria-label': 'neighbors by', onchange: (e) => { by = e.target.value; load(); } },
    h('option', { value: 'correlation', selected: by === 'correlation' }, 'by correlation'),
    h('option', { value: 'words', selected: by === 'words' }, 'by words'));

  async function load() {
    const asked = by;
    if ((asked === 'correlation' && !canCorrelate) || (asked === 'words' && !canWords)) {
      box.replaceChildren(note(asked === 'correlation'
        ? 'unavailable: the layer has no max matrix (the atlas was indexed without one)'
        : 'unavailable: the layer has no word database (clipscope words)'));
      return;
    }
    box.replaceChildren(note('loading…', 'loading'));
    try {
      const res = await api(`/api/units/${enc(unit.layer)}/${unit.unit}/neighbors?by=${asked}&k=${NEIGHBORS_K}`);
      if (!alive() || by !== asked) return;
      box.replaceChildren(tileGrid(unit.layer, res.items, (u) => num(u.score)));
    } catch (e) {
      if (!alive() || by !== asked) return;
      if (e.status !== 400) throw e;
      box.replaceChildren(note(`unavailable: ${e.message}`));
    }
  }

  const panel = h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', null, 'Nearest units'), select), box);
  return { panel, load: () => load().catch((e) => alive() && showError(e.message)) };
}

// The unit's circuit (with --model, for a ResNet block's output): its residual share on
// its top examples, and the previous block's units with the largest expanded weights
// into it (tiles when the atlas has that layer).
const CIRCUIT_K = 9;

function circuitPanel(unit, atlas, alive) {
  const box = h('div', { class: 'circuit', testid: 'circuit' });
  const panel = section('Circuit', null, box);
  async function load() {
    if (!atlas.live) {
      box.replaceChildren(note('With --model: the units feeding this one (expanded weights) and its residual share.'));
      return;
    }
    box.replaceChildren(note('loading…', 'loading'));
    let res;
    try {
      res = await api(`/api/units/${enc(unit.layer)}/${unit.unit}/circuit?k=${CIRCUIT_K}`);
    } catch (e) {
      if (!alive()) return;
      if (e.status !== 400) throw e;
      box.replaceChildren(note(`unavailable: ${e.message}`));
      return;
    }
    if (!alive()) return;
    const share = res.residual_share?.share;
    const parts = [h('p', { class: 'note', testid: 'residual-share' }, share == null
      ? 'Residual share: the unit is off on its top examples.'
      : `Residual share ${num(share)} on its top ${res.residual_share.images} examples: ` +
        (share > 0.9 ? 'it mostly passes on what the shortcut brings.' : share < 0.5 ? 'most of its value comes from the block\'s branch.' : 'shortcut and branch both carry it.'))];
    if (res.inputs?.length) {
      parts.push(h('p', { class: 'note' }, `Expanded weights from ${res.from} (ReLUs linear), by L2 norm; the sign of the kernel's mean after the score.`));
      const score = (u) => `${num(u.l2)} ${u.mean >= 0 ? '+' : '−'}`;
      parts.push(res.inputs[0].thumb
        ? h('div', { class: 'tiles' }, res.inputs.map((u) => unitTile(u.layer, u.unit, u.thumb, score(u))))
        : h('ol', { class: 'words texts', testid: 'circuit-inputs' }, res.inputs.map((u) =>
          h('li', null, h('span', { class: 'text' }, `${res.from} unit ${u.unit}`), h('span', { class: 'num' }, score(u))))));
    }
    box.replaceChildren(...parts);
  }
  return { panel, load: () => load().catch((e) => alive() && showError(e.message)) };
}

// ----- search, words, image search ----------------------------------------------

async function searchView(r, alive) {
  searchInput.value = r.text;
  if (!r.text.trim()) {
    view.replaceChildren(note('Type a word (or, with --model, any text) in the search box.'));
    return;
  }
  const res = await api(`/api/search?q=${enc(r.text)}&k=${SEARCH_K}`);
  if (!alive()) return;
  document.title = `${r.text} — clipscope`;
  const rendered = (res.rendered || []).filter((set) => set.units?.length);
  const labelled = res.labels || [];
  const empty = !res.words.length && !res.suggestions.length && !(res.text?.units?.length) && !rendered.length
    && !labelled.length;
  view.replaceChildren(h('div', { class: 'results', testid: 'search-results' },
    h('h1', null, `Search “${r.text}”`),
    empty ? note(`No results for “${r.text}”.`, 'no-results') : null,
    labelled.length ? h('section', { class: 'panel', testid: 'search-labels' },
      h('h2', null, 'Units labelled with it'),
      h('div', { class: 'tiles' }, labelled.map((u) => unitTile(u.layer, u.unit, u.thumb, `#${u.rank}`,
        `${u.layer} · unit ${u.unit} · label ${u.label} (rank ${u.rank}, ${num(u.score)})`, false, u.label)))) : null,
    h('section', { class: 'panel', testid: 'search-words' },
      h('h2', null, 'Word database'),
      res.words.length ? res.words.map((w) => h('div', { class: 'result-set' },
        h('h3', null, h('a', { href: href.word(w.word) }, w.word), ' in ', h('a', { href: href.layer(w.layer) }, w.layer)),
        tileGrid(w.layer, w.units, (u) => num(u.value))))
        : note('not in the word database'),
      res.suggestions.length ? h('p', { class: 'suggestions' }, 'Words starting with it: ',
        res.suggestions.map((w) => h('a', { href: href.word(w) }, w))) : null),
    h('section', { class: 'panel', testid: 'search-text' },
      h('h2', null, 'Units aligned with the text direction'),
      res.text ? [h('h3', null, h('a', { href: href.layer(res.text.layer) }, res.text.layer)),
        tileGrid(res.text.layer, res.text.units, (u) => num(u.score))]
        : note('needs the model (serve with --model) and a layer that feeds the embedding')),
    h('section', { class: 'panel', testid: 'search-rendered' },
      h('h2', null, 'The text drawn as an image'),
      note('Rendered and encoded as the word database encodes its words, minus the same baseline.'),
      res.rendered ? res.rendered.map((set) => h('div', { class: 'result-set' },
        h('h3', null, h('a', { href: href.layer(set.layer) }, set.layer)),
        set.units ? tileGrid(set.layer, set.units, (u) => num(u.value)) : note(`cannot be drawn: ${set.problem}`)))
        : note('needs the model (serve with --model) and a word database'))));
}

async function wordView(r, alive) {
  const res = await api(`/api/words/${enc(r.word)}?k=${WORD_K}`);
  if (!alive()) return;
  document.title = `${res.word} — clipscope`;
  view.replaceChildren(
    h('h1', { testid: 'word-title' }, `Word “${res.word}”`),
    note('Units this word, rendered as an image, activates most.'),
    ...res.sets.map((set) => h('section', { class: 'panel' },
      h('h2', null, 'in ', h('a', { href: href.layer(set.layer) }, set.layer)),
      tileGrid(set.layer, set.units, (u) => num(u.value)))));
}

// Uploads an image (raw bytes) and shows the units it activates, per layer. Not a
// hash route: an upload has no permalink.
async function imageSearch(file) {
  const mine = ++generation;
  clearError();
  view.replaceChildren(note(`searching with ${file.name}…`, 'loading'));
  let res;
  try {
    res = await api('/api/search/image', {
      method: 'POST', headers: { 'Content-Type': file.type || 'application/octet-stream' }, body: file,
    });
  } catch (e) {
    if (mine !== generation) return;
    view.replaceChildren();
    // 503: no --model. The server's message says so; say it here too if it does not.
    const needsModel = e.status === 503 && !/model/i.test(e.message);
    showError(needsModel ? `Image search needs a model (serve with --model): ${e.message}` : `Image search: ${e.message}`);
    return;
  }
  if (mine !== generation) return;
  const preview = URL.createObjectURL(file);
  view.replaceChildren(h('div', { class: 'results', testid: 'image-search-results' },
    h('h1', null, `Image search: ${file.name}`),
    h('img', { class: 'query-image', src: preview, width: 160, height: 160, alt: file.name, onload: () => URL.revokeObjectURL(preview) }),
    res.layers.map((l) => h('section', { class: 'panel' },
      h('h2', null, h('a', { href: href.layer(l.layer) }, l.layer)),
      tileGrid(l.layer, l.units, (u) => sigma(u.std))))));
}

// ----- header -------------------------------------------------------------------

document.getElementById('search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = searchInput.value.trim();
  if (!text) return;
  const target = href.search(text);
  if (location.hash === target) route();  // same search again: no hashchange
  else location.hash = target;
});

document.getElementById('image-input').addEventListener('change', (e) => {
  const file = e.target.files?.[0];
  e.target.value = '';  // choosing the same file again fires another change
  if (file) imageSearch(file);
});

getAtlas().then(showAtlasInHeader, (e) => showError(e.message));
route();
