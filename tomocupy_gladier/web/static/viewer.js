// The volume viewer of `tomocupy-gladier serve`: one OME-NGFF multiscale Zarr (0.4, or 0.5 with
// its metadata under "ome"), read with the vendored zarrita (zarrita.min.js). It shows one plane
// through z, y or x; only the chunks of the visible part of the level that suits the zoom are
// fetched. Contrast: the Zarr's own display window (omero, or an export's low/high) when it has
// one, else percentiles of the coarsest level's middle slice.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const canvas = $("slice");
  const ctx = canvas.getContext("2d");
  const statusText = $("viewer-status");
  const PLANE = { z: ["y", "x"], y: ["z", "x"], x: ["z", "y"] }; // rows, columns of each slicing
  const state = {
    ready: false, axis: "z", pos: { z: 0, y: 0, x: 0 }, choice: "auto", low: 0, high: 1,
    idle: true, contrast: "", zoom: 1, cu: 0, cv: 0, shownLevel: null, renders: 0, firstSliceMs: null, lastRenderMs: null,
  };
  window.tomoViewer = state; // what the browser tests read
  let levels = [];

  function axisIndex(names, axis) {
    const found = names.indexOf(axis);
    return found >= 0 ? found : names.length - 3 + ["z", "y", "x"].indexOf(axis);
  }

  function exportWindow(attrs) {
    const window = (((attrs.omero || {}).channels || [])[0] || {}).window;
    if (window && isFinite(window.start) && isFinite(window.end) && window.end > window.start) {
      return [window.start, window.end, "the Zarr's omero window"];
    }
    // an export's scaling recorded beside the multiscales: {low, high, ...}, one level down at most
    for (const [key, value] of Object.entries(attrs)) {
      const candidates = value && typeof value === "object" ? [value, ...Object.values(value)] : [];
      for (const c of candidates) {
        if (c && typeof c === "object" && isFinite(c.low) && isFinite(c.high) && c.high > c.low) {
          return [Number(c.low), Number(c.high), `the Zarr's ${key} scaling`];
        }
      }
    }
    return null;
  }

  // the last chunks' bytes, kept in memory: a step through z reads the same z-slab's chunks again
  function remembering(store, limit = 64) {
    const kept = new Map();
    return {
      get(key, options) {
        if (!kept.has(key)) {
          kept.set(key, store.get(key, options).catch((err) => { kept.delete(key); throw err; }));
          if (kept.size > limit) kept.delete(kept.keys().next().value);
        }
        return kept.get(key);
      },
    };
  }

  async function openVolume(url) {
    const store = remembering(new zarrita.FetchStore(new URL(url, location.href).href.replace(/\/$/, "")));
    const group = await zarrita.open(zarrita.root(store), { kind: "group" });
    const attrs = group.attrs.ome || group.attrs;
    const multiscale = (attrs.multiscales || [])[0];
    if (!multiscale) throw new Error("this Zarr has no OME-NGFF multiscales");
    const names = (multiscale.axes || []).map((a) => (typeof a === "string" ? a : a.name));
    for (const dataset of multiscale.datasets) {
      const array = await zarrita.open(group.resolve(dataset.path), { kind: "array" });
      const scale = ((dataset.coordinateTransformations || []).find((t) => t.type === "scale") || {}).scale
        || array.shape.map(() => 1);
      levels.push({ path: dataset.path, array, shape: array.shape, scale, names });
    }
    return attrs;
  }

  // the size of one voxel of level `l` along `axis`, in voxels of the finest level
  function factor(l, axis) {
    const i = axisIndex(levels[0].names, axis);
    return levels[l].scale[i] / levels[0].scale[i];
  }
  function extent(axis) { return levels[0].shape[axisIndex(levels[0].names, axis)]; }
  function aspect() {
    const [row, col] = PLANE[state.axis];
    const names = levels[0].names;
    return levels[0].scale[axisIndex(names, row)] / levels[0].scale[axisIndex(names, col)];
  }

  function chooseLevel() {
    if (state.choice !== "auto") return Number(state.choice);
    const col = PLANE[state.axis][1];
    let chosen = 0;
    levels.forEach((_, l) => { if (factor(l, col) <= 1 / state.zoom + 1e-9) chosen = l; });
    return chosen;
  }

  async function readPlane(l, rows, cols) {
    const level = levels[l];
    const a = state.axis;
    const k = Math.min(level.shape[axisIndex(level.names, a)] - 1, Math.floor(state.pos[a] / factor(l, a)));
    const selection = level.shape.map(() => 0);
    selection[axisIndex(level.names, a)] = k;
    const [row, col] = PLANE[a];
    selection[axisIndex(level.names, row)] = zarrita.slice(rows[0], rows[1]);
    selection[axisIndex(level.names, col)] = zarrita.slice(cols[0], cols[1]);
    return { chunk: await zarrita.get(level.array, selection), k };
  }

  function fit() {
    const [row, col] = PLANE[state.axis];
    state.zoom = Math.min(canvas.width / extent(col), canvas.height / (extent(row) * aspect()));
    state.cu = extent(col) / 2;
    state.cv = extent(row) / 2;
  }

  async function dataContrast() {
    const l = levels.length - 1;
    const [row, col] = PLANE[state.axis];
    const level = levels[l];
    const { chunk } = await readPlane(l, [0, level.shape[axisIndex(level.names, row)]],
      [0, level.shape[axisIndex(level.names, col)]]);
    const values = Float64Array.from(chunk.data).filter(isFinite).sort();
    if (!values.length) return [0, 1];
    const at = (q) => values[Math.min(values.length - 1, Math.floor(q * values.length))];
    const low = at(0.005), high = at(0.995);
    return high > low ? [low, high] : [low, low + 1];
  }

  async function renderOnce() {
    const started = performance.now();
    const l = chooseLevel();
    const [row, col] = PLANE[state.axis];
    const fr = factor(l, row), fc = factor(l, col);
    const level = levels[l];
    const nr = level.shape[axisIndex(level.names, row)], nc = level.shape[axisIndex(level.names, col)];
    const zy = state.zoom * aspect();
    // the visible part of the plane, in this level's voxels
    const u0 = state.cu - canvas.width / 2 / state.zoom, u1 = state.cu + canvas.width / 2 / state.zoom;
    const v0 = state.cv - canvas.height / 2 / zy, v1 = state.cv + canvas.height / 2 / zy;
    const cols = [Math.max(0, Math.floor(u0 / fc)), Math.min(nc, Math.ceil(u1 / fc))];
    const rows = [Math.max(0, Math.floor(v0 / fr)), Math.min(nr, Math.ceil(v1 / fr))];
    ctx.fillStyle = "#111";
    if (cols[1] <= cols[0] || rows[1] <= rows[0]) {
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      return;
    }
    const { chunk, k } = await readPlane(l, rows, cols);
    state.lastReadMs = performance.now() - started;
    const [h, w] = chunk.shape;
    const [s0, s1] = chunk.stride;
    const image = new ImageData(w, h);
    const scale = 255 / (state.high - state.low);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const v = Math.max(0, Math.min(255, (chunk.data[i * s0 + j * s1] - state.low) * scale));
        const p = 4 * (i * w + j);
        image.data[p] = image.data[p + 1] = image.data[p + 2] = v;
        image.data[p + 3] = 255;
      }
    }
    const off = new OffscreenCanvas(w, h);
    off.getContext("2d").putImageData(image, 0, 0);
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, (cols[0] * fc - state.cu) * state.zoom + canvas.width / 2,
      (rows[0] * fr - state.cv) * zy + canvas.height / 2, w * fc * state.zoom, h * fr * zy);
    state.shownLevel = l;
    state.renders += 1;
    state.lastRenderMs = performance.now() - started;
    if (state.firstSliceMs === null) state.firstSliceMs = performance.now(); // since navigation start
    canvas.dataset.renders = String(state.renders);
    statusText.textContent = `level ${level.path} (${level.shape.join(" × ")}) · ${state.axis} = ${k}`
      + ` · ${state.lastRenderMs.toFixed(0)} ms`;
  }

  let wanted = 0, drawn = 0, running = false;
  async function render() {
    wanted += 1;
    if (running) return; // the loop below draws the newest state once the one in flight is done
    running = true;
    state.idle = false;
    while (drawn < wanted) {
      const asked = wanted;
      try { await renderOnce(); } catch (err) { statusText.textContent = `could not read the volume: ${err.message}`; }
      drawn = asked;
    }
    running = false;
    state.idle = true;
  }

  function showPosition() {
    const n = extent(state.axis);
    $("position").max = String(n - 1);
    $("position").value = String(state.pos[state.axis]);
    $("position-text").textContent = `${state.axis} ${state.pos[state.axis]} / ${n - 1}`;
  }

  function step(by) {
    const n = extent(state.axis);
    state.pos[state.axis] = Math.max(0, Math.min(n - 1, state.pos[state.axis] + by));
    showPosition();
    render();
  }

  function wire() {
    $("axis").addEventListener("change", (e) => { state.axis = e.target.value; fit(); showPosition(); render(); });
    $("position").addEventListener("input", (e) => { state.pos[state.axis] = Number(e.target.value); showPosition(); render(); });
    $("level").addEventListener("change", (e) => { state.choice = e.target.value; render(); });
    for (const id of ["low", "high"]) {
      $(id).addEventListener("change", (e) => {
        state[id] = Number(e.target.value);
        $("contrast-source").textContent = "(set by hand)";
        render();
      });
    }
    $("reset").addEventListener("click", () => { fit(); render(); });
    document.addEventListener("keydown", (e) => {
      if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
      const by = { ArrowUp: 1, ArrowRight: 1, PageUp: 10, ArrowDown: -1, ArrowLeft: -1, PageDown: -10 }[e.key];
      if (by) { e.preventDefault(); step(by); }
    });
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      const rect = canvas.getBoundingClientRect();
      const x = (e.clientX - rect.left) * canvas.width / rect.width - canvas.width / 2;
      const y = (e.clientY - rect.top) * canvas.height / rect.height - canvas.height / 2;
      const by = Math.exp(-e.deltaY / 500);
      // keep the voxel under the pointer where it is
      state.cu += x / state.zoom - x / (state.zoom * by);
      state.cv += y / (state.zoom * aspect()) - y / (state.zoom * by * aspect());
      state.zoom *= by;
      render();
    }, { passive: false });
    let dragging = null;
    canvas.addEventListener("pointerdown", (e) => { dragging = [e.clientX, e.clientY]; canvas.setPointerCapture(e.pointerId); });
    canvas.addEventListener("pointerup", () => { dragging = null; });
    canvas.addEventListener("pointermove", (e) => {
      if (!dragging) return;
      const rect = canvas.getBoundingClientRect();
      const k = canvas.width / rect.width;
      state.cu -= (e.clientX - dragging[0]) * k / state.zoom;
      state.cv -= (e.clientY - dragging[1]) * k / (state.zoom * aspect());
      dragging = [e.clientX, e.clientY];
      render();
    });
  }

  async function start() {
    try {
      const attrs = await openVolume($("viewer").dataset.zarr);
      levels.forEach((level, l) => {
        $("level").add(new Option(`${level.path} (${level.shape.join(" × ")})`, String(l)));
      });
      for (const axis of ["z", "y", "x"]) state.pos[axis] = Math.floor(extent(axis) / 2);
      const recorded = exportWindow(attrs);
      [state.low, state.high] = recorded ? recorded : await dataContrast();
      state.contrast = recorded ? recorded[2] : "the data (0.5-99.5 % of the coarsest level's middle slice)";
      $("low").value = String(Number(state.low.toPrecision(5)));
      $("high").value = String(Number(state.high.toPrecision(5)));
      $("contrast-source").textContent = `from ${state.contrast}`;
      fit();
      showPosition();
      wire();
      state.ready = true;
      await render();
    } catch (err) {
      statusText.textContent = `could not open the volume: ${err.message}`;
    }
  }
  start();
})();
