// The crsae page: image denoising, learned filters and a spike trace, all client-side.
// Model logic lives in crsae-web.js; this file is only the page (pixels, canvases, controls).

import { EXPORT_URL, fetchGoldenIndex, fetchNpy, loadModel, runGolden } from './crsae-web.js';

const $ = (id) => document.getElementById(id);
const IMAGE_MODEL = new URL('models/image2d.onnx', EXPORT_URL);
const IMAGE_FILTERS = new URL('models/image2d.filters.npy', EXPORT_URL);
const SPIKES_MODEL = 'models/spikes1d.onnx';
const PALETTE = ['#d1495b', '#00798c', '#edae49', '#66a182', '#8d6cab', '#2e4057', '#e07a5f', '#3d405b'];

function setStatus(id, text, isError = false) {
  $(id).textContent = text;
  $(id).classList.toggle('error', isError);
}

// ---------- pixels <-> planes ([channels, height, width] in [0, 1]) ----------

/** RGBA ImageData -> Float32Array planes in [0, 1]: luminance for 1 channel, R, G, B for 3. */
function toPlanes(image, channels) {
  const n = image.width * image.height;
  const planes = new Float32Array(channels * n);
  for (let i = 0; i < n; i++) {
    const [r, g, b] = [image.data[4 * i], image.data[4 * i + 1], image.data[4 * i + 2]];
    if (channels === 1) planes[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b) / 255;
    else [r, g, b].slice(0, channels).forEach((c, k) => { planes[k * n + i] = c / 255; });
  }
  return planes;
}

/** Planes in [0, 1] -> RGBA ImageData (clipped). */
function toImageData(planes, channels, width, height) {
  const n = width * height;
  const image = new ImageData(width, height);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) {
      const v = planes[(channels === 1 ? 0 : k) * n + i];
      image.data[4 * i + k] = Math.round(255 * Math.min(1, Math.max(0, v)));
    }
    image.data[4 * i + 3] = 255;
  }
  return image;
}

function draw(id, image) {
  const canvas = $(id);
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext('2d').putImageData(image, 0, 0);
}

/** Seeded Gaussian noise (mulberry32 + Box-Muller), so the same image gives the same noisy input. */
function addNoise(planes, sigma, seed = 1) {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return planes.map((v) => v + sigma * Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()));
}

/** PSNR in dB of `a` against `b`, both in [0, 1] (a clipped first). */
function psnr(a, b) {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (Math.min(1, Math.max(0, a[i])) - b[i]) ** 2;
  return 10 * Math.log10(1 / (sum / a.length));
}

// ---------- denoising ----------

let imageModel = null;
let source = null; // { name, bitmap }: the image being denoised

/** The built-in image, sample.png (a synthetic test pattern made by make_sample.py). */
async function builtinSource() {
  const response = await fetch(new URL('./sample.png', import.meta.url));
  if (!response.ok) throw new Error(`cannot fetch sample.png (HTTP ${response.status}); run make_sample.py`);
  return { name: 'sample.png', bitmap: await createImageBitmap(await response.blob()) };
}

/** The current image scaled (down only) to fit maxSide, as RGBA ImageData. */
async function currentImage(maxSide) {
  source ??= await builtinSource();
  const { bitmap } = source;
  const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
  const canvas = new OffscreenCanvas(Math.max(1, Math.round(bitmap.width * scale)), Math.max(1, Math.round(bitmap.height * scale)));
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}

async function denoise() {
  const section = $('denoise');
  section.dataset.state = 'running';
  try {
    const model = await imageModel;
    const { channels, kernel_size: K, input_scaling: scaling } = model.meta;
    const image = await currentImage(Number($('max-side').value));
    const { width, height } = image;
    const clean = toPlanes(image, channels);
    const sigma = Number($('noise').value) / 255;
    const noisy = sigma > 0 ? addNoise(clean, sigma) : clean;
    draw('img-clean', toImageData(clean, channels, width, height));
    draw('img-noisy', toImageData(noisy, channels, width, height));
    setStatus('denoise-status', `denoising ${width}x${height} in WebAssembly…`);
    const scale = scaling === 'unit_interval' ? 1 : 255; // the model takes [0, 1] images or raw pixels
    const input = scale === 1 ? noisy : noisy.map((v) => v * scale);
    // noise-input models only: the thresholds for the added sigma (in the model's input units) or estimated
    const mode = model.noiseInput ? $('sigma-mode').value : 'model';
    const noiseSigma = { model: null, given: sigma * scale, auto: 'auto' }[mode];
    const start = performance.now();
    const out = await model.reconstruct({ data: input, shape: [1, channels, height, width] }, { noiseSigma });
    const ms = performance.now() - start;
    const denoised = scale === 1 ? out.data : out.data.map((v) => v / scale);
    draw('img-denoised', toImageData(denoised, channels, width, height));
    if (sigma > 0) {
      $('cap-noisy').textContent = `noisy, σ = ${Math.round(sigma * 255)}/255: ${psnr(noisy, clean).toFixed(2)} dB`;
      $('cap-denoised').textContent = `denoised: ${psnr(denoised, clean).toFixed(2)} dB`;
    } else {
      $('cap-noisy').textContent = 'input (no noise added)';
      $('cap-denoised').textContent = 'denoised';
    }
    const thresholds = { model: `thresholds for σ = ${Math.round(255 * model.meta.sigma / scale)}/255`, given: 'thresholds for the added σ', auto: 'thresholds for the estimated σ' }[mode];
    setStatus('denoise-status', `denoised ${source.name}, ${width}x${height}, in ${ms.toFixed(0)} ms (${model.meta.num_filters} filters ${K}x${K}, stride ${model.meta.stride}, ${model.meta.num_layers} FISTA steps, ${thresholds})`);
    section.dataset.state = 'done';
  } catch (err) {
    setStatus('denoise-status', `error: ${err.message}`, true);
    section.dataset.state = 'error';
  }
}

function showMetadata(meta) {
  const keys = ['kind', 'channels', 'num_filters', 'kernel_size', 'stride', 'num_layers', 'L', 'sigma', 'threshold_mode',
    'two_sided', 'tied', 'input_scaling', 'outputs', 'crsae_version', 'contract_version'];
  $('model-meta').replaceChildren(...keys.filter((k) => k in meta).map((k) => {
    const row = document.createElement('tr');
    row.innerHTML = '<th></th><td></td>';
    row.cells[0].textContent = k;
    row.cells[1].textContent = JSON.stringify(meta[k]);
    return row;
  }));
}

// ---------- filters ----------

async function showFilters() {
  const filters = await fetchNpy(IMAGE_FILTERS, { optional: true });
  if (!filters) {
    setStatus('filters-status', 'no filters shipped (export/models/image2d.filters.npy is missing)');
    return;
  }
  const [C, channels, K, K2] = filters.shape;
  if (filters.shape.length !== 4 || K !== K2 || (channels !== 1 && channels !== 3)) {
    setStatus('filters-status', `cannot draw filters of shape [${filters.shape.join(', ')}]; expected (C, 1 or 3, K, K)`, true);
    return;
  }
  const cols = Math.ceil(Math.sqrt(C));
  const rows = Math.ceil(C / cols);
  const cell = K + 1;
  const image = new ImageData(cols * cell + 1, rows * cell + 1);
  image.data.fill(255);
  const size = channels * K * K;
  for (let c = 0; c < C; c++) {
    const h = filters.data.subarray(c * size, (c + 1) * size);
    const peak = h.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-12);
    const [x0, y0] = [1 + (c % cols) * cell, 1 + Math.floor(c / cols) * cell];
    for (let y = 0; y < K; y++) {
      for (let x = 0; x < K; x++) {
        const p = 4 * ((y0 + y) * image.width + x0 + x);
        for (let k = 0; k < 3; k++) {
          const v = h[(channels === 1 ? 0 : k) * K * K + y * K + x];
          image.data[p + k] = Math.round(127.5 + 127.5 * (v / peak));
        }
      }
    }
  }
  draw('filters-canvas', image);
  const canvas = $('filters-canvas');
  canvas.style.width = `${Math.min(900, canvas.width * Math.max(2, Math.floor(420 / canvas.width)))}px`;
  setStatus('filters-status', `${C} filters, ${K}x${K}, ${channels} channel(s); grey = 0, each filter scaled to its own peak`);
}

// ---------- spike trace ----------

/**
 * Draw one series of `total` samples across `width` pixels: a polyline when there are few samples per
 * pixel, else per pixel column the min..max of the samples it covers (so long traces stay readable).
 */
function plotSeries(ctx, values, { x0, width, top, height, lo, hi, colour, total }) {
  const y = (v) => top + height * (1 - (v - lo) / (hi - lo || 1));
  ctx.strokeStyle = colour;
  ctx.lineWidth = 1;
  ctx.beginPath();
  if (total <= 2 * width) {
    values.forEach((v, i) => {
      const x = x0 + ((i + 0.5) * width) / total;
      if (i === 0) ctx.moveTo(x, y(v));
      else ctx.lineTo(x, y(v));
    });
  } else {
    for (let px = 0; px < width; px++) {
      const from = Math.floor((px * total) / width);
      const to = Math.min(values.length, Math.floor(((px + 1) * total) / width));
      let min = Infinity;
      let max = -Infinity;
      for (let i = from; i < to; i++) {
        min = Math.min(min, values[i]);
        max = Math.max(max, values[i]);
      }
      if (min > max) continue;
      ctx.moveTo(x0 + px + 0.5, y(max) - 0.5);
      ctx.lineTo(x0 + px + 0.5, y(min) + 0.5);
    }
  }
  ctx.stroke();
}

async function showSpikes() {
  const section = $('spikes');
  section.dataset.state = 'running';
  try {
    const index = await fetchGoldenIndex();
    const cases = (index?.cases ?? []).filter((c) => c.model.endsWith(SPIKES_MODEL));
    const c = cases.find((k) => !k.chunk_length) ?? cases[0];
    if (!c) {
      setStatus('spikes-status', `no golden case for ${SPIKES_MODEL} in export/golden/index.json`);
      section.dataset.state = 'missing';
      return;
    }
    const model = await loadModel(c.modelUrl);
    const golden = await fetchNpy(c.inputUrl);
    const [, channels, N] = golden.shape;
    const signal = { data: golden.data.slice(0, channels * N), shape: [1, channels, N] };
    const chunk = c.chunk_length ?? null;
    const start = performance.now();
    const codes = await model.encode(signal, { chunk });
    const recon = model.meta.outputs.includes('reconstruction') ? await model.reconstruct(signal, { chunk }) : null;
    const ms = performance.now() - start;
    const C = codes.shape[1];
    const M = codes.shape[2];
    const canvas = $('spikes-canvas');
    const dpr = window.devicePixelRatio || 1;
    const cssWidth = canvas.clientWidth || 1000;
    const traceHeight = 150;
    const rowHeight = 34;
    const cssHeight = traceHeight + 24 + C * rowHeight + 8;
    canvas.width = Math.round(cssWidth * dpr);
    canvas.height = Math.round(cssHeight * dpr);
    canvas.style.height = `${cssHeight}px`;
    const ctx = canvas.getContext('2d');
    ctx.scale(dpr, dpr);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, cssWidth, cssHeight);
    const x0 = 70;
    const width = cssWidth - x0 - 10;
    const trace = signal.data.subarray(0, N); // channel 0
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of trace) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    ctx.font = '12px system-ui, sans-serif';
    ctx.fillStyle = '#4a5263';
    ctx.fillText('signal', 6, 20);
    plotSeries(ctx, trace, { x0, width, top: 6, height: traceHeight - 12, lo, hi, colour: '#9aa1ad', total: N });
    if (recon) {
      ctx.fillStyle = '#2e4057';
      ctx.fillText('H x_T', 6, 36);
      plotSeries(ctx, recon.data.subarray(0, N), { x0, width, top: 6, height: traceHeight - 12, lo, hi, colour: '#2e4057', total: N });
    }
    // Code n is filter c placed at samples n..n+K-1, so code index n is drawn at sample n.
    let peak = 0;
    for (const v of codes.data) peak = Math.max(peak, Math.abs(v));
    for (let f = 0; f < C; f++) {
      const top = traceHeight + 24 + f * rowHeight;
      ctx.fillStyle = PALETTE[f % PALETTE.length];
      ctx.fillText(`x_${f}`, 6, top + rowHeight / 2 + 4);
      ctx.strokeStyle = '#eef0f4';
      ctx.strokeRect(x0, top, width, rowHeight - 4);
      const row = codes.data.subarray(f * M, (f + 1) * M);
      const lowest = model.meta.two_sided ? -peak : 0;
      plotSeries(ctx, row, { x0, width, top, height: rowHeight - 4, lo: lowest, hi: peak || 1, colour: PALETTE[f % PALETTE.length], total: N });
    }
    let nonzero = 0;
    for (const v of codes.data) if (v !== 0) nonzero++;
    setStatus('spikes-status', `golden case "${c.name}", first trace: ${N} samples, ${C} filters of ${model.meta.kernel_size} taps, ` +
      `${model.meta.num_layers} FISTA steps; ${nonzero} non-zero codes (${((100 * nonzero) / codes.data.length).toFixed(2)} %); encoded${recon ? ' and reconstructed' : ''} in ${ms.toFixed(0)} ms`);
    await model.release();
    section.dataset.state = 'done';
  } catch (err) {
    setStatus('spikes-status', `error: ${err.message}`, true);
    section.dataset.state = 'error';
  }
}

// ---------- golden vectors ----------

async function showGolden() {
  const table = $('golden-table');
  table.innerHTML = '<tr><td>running…</td></tr>';
  try {
    const results = await runGolden();
    table.innerHTML = '<tr><th>case</th><th>output</th><th>chunk</th><th>shape</th><th>max |out − ref|</th><th>atol</th><th>ms</th><th></th></tr>';
    for (const r of results) {
      const row = table.insertRow();
      for (const text of [r.name, r.output, r.chunk ?? '—', `[${r.shape.join(', ')}]`, r.diff.toExponential(2), r.atol.toExponential(2), r.ms.toFixed(0), r.ok ? 'pass' : 'FAIL']) {
        row.insertCell().textContent = text;
      }
      row.cells[7].className = r.ok ? 'pass' : 'fail';
    }
    return results;
  } catch (err) {
    table.innerHTML = '';
    table.insertRow().insertCell().textContent = `error: ${err.message}`;
    throw err;
  }
}

// ---------- wiring ----------

$('noise').addEventListener('input', () => { $('noise-value').textContent = $('noise').value; });
$('image-file').addEventListener('change', async () => {
  const file = $('image-file').files[0];
  if (!file) return;
  try {
    source = { name: file.name, bitmap: await createImageBitmap(file) };
    await denoise();
  } catch (err) {
    setStatus('denoise-status', `error: cannot read ${file.name} as an image (${err.message}); pick a PNG or JPEG`, true);
  }
});
$('use-builtin').addEventListener('click', () => { source = null; denoise(); });
$('denoise-run').addEventListener('click', () => denoise());
$('sigma-mode').addEventListener('change', () => denoise());
$('golden-run').addEventListener('click', () => showGolden().catch(() => {}));

imageModel = loadModel(IMAGE_MODEL);
const ready = Promise.allSettled([
  imageModel.then((model) => {
    showMetadata(model.meta);
    $('sigma-mode').disabled = !model.noiseInput;
    if (!model.noiseInput) $('sigma-mode').title = `${IMAGE_MODEL.pathname.split('/').pop()} has its σ frozen (exported without --noise-input)`;
    // The slider is in 8-bit units; sigma is in the model's input units ([0, 1] for unit_interval).
    const sigma = model.meta.sigma ?? 20 / 255;
    $('noise').value = String(Math.round(model.meta.input_scaling === 'unit_interval' ? 255 * sigma : sigma));
    $('noise-value').textContent = $('noise').value;
    return denoise();
  }, (err) => {
    setStatus('denoise-status', `error: ${err.message}`, true);
    $('denoise').dataset.state = 'error';
  }),
  showFilters().catch((err) => setStatus('filters-status', `error: ${err.message}`, true)),
  showSpikes(),
]);

/** For tests and the console: window.crsae.ready settles when the page has drawn everything. */
window.crsae = { ready, runGolden, showGolden, loadModel };
