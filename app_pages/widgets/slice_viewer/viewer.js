// TumorBoard slice viewer: paints axial / coronal / sagittal slices of a study in the browser,
// so slice steps, window changes, crosshair moves, zoom and pan need no server round trip.
// Payload: model/views/viewer_payload.py (b"TBV1", uint32 header length, JSON header, gzip blobs).
// Test hooks (the contract in the session plan): window.tbViewer = {state(), voxelToClient(),
// paintLog, measurements(), ready}; root [data-testid=tb-slice-viewer]; canvas[data-view].

const VIEWS = ["axial", "coronal", "sagittal"];
const AXIS = { axial: 2, coronal: 1, sagittal: 0 };
const LETTERS = { axial: ["A", "P", "R", "L"], coronal: ["S", "I", "R", "L"], sagittal: ["S", "I", "A", "P"] };
const TOOLS = [["crosshair", "Crosshair", "Click to place the crosshair"], ["pan", "Pan", "Drag to pan"],
  ["zoom", "Zoom", "Drag up/down to zoom (or ctrl + wheel)"], ["window", "Window", "Drag: left/right width, up/down level (or right-drag)"],
  ["ruler", "Ruler", "Drag to measure a distance in mm"],
  ["rano", "RANO", "On an axial slice: drag the longest diameter, then drag across it for the perpendicular"]];
const SHORT = { axial: "Ax", coronal: "Cor", sagittal: "Sag" };
const LOGGED = new Set(["slice", "window", "crosshair", "zoom", "pan", "sequence"]);  // paintLog kinds
const CROSS = "rgba(0, 255, 128, 0.75)";
// per study, for this page's lifetime: a remount (back from another page) resumes there
const MEMORY = (window.__tbViewerMemory = window.__tbViewerMemory || {});
const MEAS = "#ffd23f";

function el(tag, attrs, parent, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("data-") || k === "title" || k === "tabindex") e.setAttribute(k, v); else e[k] = v;
  }
  if (text != null) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

// 4x4 row-major affine helpers (voxel -> world mm)
function apply4(A, p) {
  return [0, 1, 2].map((r) => A[r][0] * p[0] + A[r][1] * p[1] + A[r][2] * p[2] + A[r][3]);
}
function invert4(A) {
  // affine inverse: [R t]^-1 = [R^-1, -R^-1 t]
  const [a, b, c] = A[0], [d, e, f] = A[1], [g, h, i] = A[2];
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  const R = [[(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
    [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
    [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det]];
  const t = [A[0][3], A[1][3], A[2][3]];
  return R.map((row) => [...row, -(row[0] * t[0] + row[1] * t[1] + row[2] * t[2])]);
}
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
const fmt = (v, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : "?");
function fmtVal(v) {
  const a = Math.abs(v);
  return a >= 1000 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

async function gunzip(u8) {
  const stream = new Blob([u8]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function parse(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const magic = String.fromCharCode(u8[0], u8[1], u8[2], u8[3]);
  if (magic !== "TBV1") throw new Error("not a viewer payload");
  const n = new DataView(u8.buffer, u8.byteOffset, u8.byteLength).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(u8.subarray(8, 8 + n)));
  return { header, body: u8.subarray(8 + n) };
}

class Viewer {
  constructor(parent) {
    this.parent = parent;
    this.blobCache = new Map(); // sha1 -> Promise<Uint8Array>
    this.vols = {};             // seq -> {h, data, A, Ainv}
    this.paintLog = [];
    this.ready = false;
    this.pending = [];
    this.frame = 0;
    this.ms = [];               // measurements
    this.draft = null;          // measurement being drawn
    this.cache = {};            // view key -> {key, canvas}
    this.st = { seq: null, mm: [0, 0, 0], win: {}, preset: {}, zoom: 1, pan: {}, tool: "crosshair",
      active: "axial", convention: "radiological", stripView: "axial" };
    this.build();
    this.onKey = this.onKey.bind(this);
    this.root.addEventListener("keydown", this.onKey);
    this.ro = new ResizeObserver(() => this.request("resize"));
    this.ro.observe(this.root);
  }

  // ------------------------------------------------------------------ DOM
  build() {
    const root = this.root = el("div", { class: "tbv", "data-testid": "tb-slice-viewer", tabindex: "0" }, this.parent);
    const bar = el("div", { class: "bar" }, root);
    this.seqSel = el("select", { title: "Sequence", "data-role": "sequence" }, bar);
    this.seqSel.onchange = (ev) => this.setSeq(this.seqSel.value, ev);
    el("span", { class: "sep" }, bar);
    const tools = el("span", { class: "group" }, bar);
    this.toolBtns = {};
    for (const [t, label, tip] of TOOLS) {
      const b = el("button", { "data-tool": t, title: tip }, tools, label);
      b.onclick = () => this.setTool(t);
      this.toolBtns[t] = b;
    }
    el("span", { class: "sep" }, bar);
    this.presetSel = el("select", { title: "Window preset (percentiles of the brain's intensities)", "data-role": "preset" }, bar);
    this.presetSel.onchange = (ev) => this.setPreset(this.presetSel.value, ev);
    this.convBtn = el("button", { "data-role": "convention", title: "Radiological: the patient's right on the image's left. Neurological: right on the right." }, bar);
    this.convBtn.onclick = (ev) => this.setConvention(this.st.convention === "radiological" ? "neurological" : "radiological", ev);
    const reset = el("button", { "data-role": "reset", title: "Zoom 1x, no pan" }, bar, "Reset view");
    reset.onclick = (ev) => { this.st.zoom = 1; this.st.pan = {}; this.request("zoom", ev); };
    const clear = el("button", { "data-role": "clear", title: "Remove every measurement" }, bar, "Clear");
    clear.onclick = () => { this.ms = []; this.draft = null; this.reportMeasurements(); this.request("measure"); };

    const views = el("div", { class: "views" }, root);
    this.canvases = {};
    this.viewEls = {};
    for (const v of VIEWS) {
      const box = el("div", { class: "view", "data-box": v }, views);
      const c = el("canvas", { "data-view": v }, box);
      this.canvases[v] = c;
      this.viewEls[v] = box;
      this.bindCanvas(v, c);
    }
    this.readout = el("div", { class: "readout", "data-role": "readout" }, root);
    this.hover = el("div", { class: "readout hover", "data-role": "hover" }, root);
    this.note = el("div", { class: "note", "data-role": "note" }, root);
    this.measEl = el("div", { class: "meas", "data-role": "measurements" }, root);
    const sb = el("div", { class: "stripbar" }, root);
    el("b", {}, sb, "All sequences at the crosshair");
    this.stripSel = el("select", { "data-role": "strip-view", title: "View of the strip" }, sb);
    for (const v of VIEWS) el("option", { value: v }, this.stripSel, v);
    this.stripSel.onchange = (ev) => { this.st.stripView = this.stripSel.value; this.request("strip", ev); };
    this.strip = el("div", { class: "strip", "data-role": "strip" }, root);
    this.stripCanvases = {};
  }

  setNote(text) { this.note.textContent = text || ""; }

  // ------------------------------------------------------------------ payload
  async load(bytes, api) {
    this.api = api;
    let parsed;
    try { parsed = parse(bytes); } catch (e) { this.setNote("Viewer: " + e.message); return; }
    const h = parsed.header;
    this.header = h;
    const want = new Set();
    const get = (name) => {
      const [off, len, sha] = h.blobs[name];
      want.add(sha);
      if (!this.blobCache.has(sha)) this.blobCache.set(sha, gunzip(parsed.body.slice(off, off + len)));
      return this.blobCache.get(sha);
    };
    const first = (h.start && h.start.seq) || h.sequences[0].name;
    const order = [...h.sequences].sort((a, b) => (a.name === first ? -1 : b.name === first ? 1 : 0));
    const vols = {};
    const jobs = [];
    for (const s of order) {
      const entry = { h: s, A: s.affine, Ainv: invert4(s.affine), data: null, masks: [], overlay: null };
      vols[s.name] = entry;
      jobs.push(get(s.blob).then((d) => { entry.data = d; }));
      for (const m of h.masks || []) {
        const b = m.blobs[s.name];
        if (!b) continue;
        const mk = { name: m.name, rgb: m.rgb, data: null };
        entry.masks.push(mk);
        jobs.push(get(b).then((d) => { mk.data = d; }));
      }
      const ob = h.overlay && h.overlay.blobs[s.name];
      if (ob) jobs.push(get(ob).then((d) => { entry.overlay = d; }));
    }
    for (const sha of [...this.blobCache.keys()]) if (!want.has(sha)) this.blobCache.delete(sha);
    let err = null;
    await Promise.all(jobs).catch((e) => { err = e; });
    if (err) { this.setNote("Viewer: could not decode the study (" + err.message + ")"); return; }
    if (this.header !== h) return; // a newer payload arrived while decoding
    // fresh: first payload of this viewer, or another study (judged after decoding, so two
    // payloads in quick succession cannot skip the start)
    const fresh = this.loaded !== h.study;
    this.loaded = h.study;
    this.vols = vols;
    this.cache = {};
    this.buildLut();
    const mem = fresh ? MEMORY[h.study] : null;
    if (mem) { // back on the page: where this study was left (window, zoom, measurements too)
      this.st = JSON.parse(JSON.stringify(mem.st));
      this.ms = JSON.parse(JSON.stringify(mem.ms));
      this.nonce = mem.nonce;
    } else if (fresh) {
      this.st.seq = vols[first] ? first : h.sequences[0].name;
      this.st.convention = (h.start && h.start.convention) || "radiological";
      this.st.win = {}; this.st.preset = {}; this.st.zoom = 1; this.st.pan = {};
      this.ms = [];
      this.st.mm = (h.start && h.start.mm) || this.centreMm(this.st.seq);
      this.nonce = null;
    }
    if (h.command && h.command.nonce !== this.nonce) { // Centre, Go to tumour, ...: once each
      this.nonce = h.command.nonce;
      this.st.mm = h.command.mm.slice();
      if (h.command.seq && vols[h.command.seq]) this.st.seq = h.command.seq;
      if (h.command.convention) this.st.convention = h.command.convention;
      this.cache = {};
    }
    if (!vols[this.st.seq]) this.st.seq = h.sequences[0].name;
    this.fillControls();
    this.buildStrip();
    this.renderMeasurements();
    this.request(fresh ? "load" : "payload");
  }

  centreMm(seq) {
    const v = this.vols[seq];
    return apply4(v.A, v.h.shape.map((n) => (n - 1) / 2));
  }

  buildLut() {
    const ov = this.header.overlay;
    this.ovLut = null;
    if (ov) {
      const lut = new Uint32Array(256);
      const a = Math.round(clamp(ov.opacity, 0, 1) * 255);
      const thr = Math.round(ov.threshold * 255);
      for (let c = 0; c < 256; c++) {
        lut[c] = c < thr || a === 0 ? 0 : ((a << 24) | (ov.lut[3 * c + 2] << 16) | (ov.lut[3 * c + 1] << 8) | ov.lut[3 * c]) >>> 0;
      }
      this.ovLut = lut;
    }
  }

  fillControls() {
    const h = this.header;
    this.seqSel.innerHTML = "";
    for (const s of h.sequences) el("option", { value: s.name }, this.seqSel, s.name);
    this.seqSel.value = this.st.seq;
    this.fillPresets();
    this.setTool(this.st.tool, true);
    this.convBtn.textContent = this.st.convention === "radiological" ? "Radiological" : "Neurological";
    this.stripSel.value = this.st.stripView;
  }

  fillPresets() {
    const s = this.vols[this.st.seq].h;
    this.presetSel.innerHTML = "";
    for (const p of Object.keys(s.presets)) el("option", { value: p }, this.presetSel, p);
    el("option", { value: "Manual" }, this.presetSel, "Manual");
    this.presetSel.value = this.presetOf(this.st.seq);
  }

  presetOf(seq) { return this.st.preset[seq] || Object.keys(this.vols[seq].h.presets)[0]; }

  windowOf(seq) {
    if (!this.st.win[seq]) {
      const [l, w] = this.vols[seq].h.presets[this.presetOf(seq)];
      this.st.win[seq] = [l, w];
    }
    return this.st.win[seq];
  }

  grayLut(seq) {
    const v = this.vols[seq];
    const [l, w] = this.windowOf(seq);
    const key = `${l}|${w}`;
    if (v.lutKey === key) return v.lut;
    const lut = v.lut || new Uint32Array(256);
    const lo = l - w / 2;
    for (let c = 0; c < 256; c++) {
      const g = Math.round(clamp((c * v.h.scale + v.h.offset - lo) / w, 0, 1) * 255);
      lut[c] = (0xff000000 | (g << 16) | (g << 8) | g) >>> 0;
    }
    v.lut = lut; v.lutKey = key;
    return lut;
  }

  // ------------------------------------------------------------------ geometry
  ijkOf(seq, mm = this.st.mm) {
    const v = this.vols[seq];
    const p = apply4(v.Ainv, mm);
    return p.map((x, a) => clamp(Math.round(x), 0, v.h.shape[a] - 1));
  }

  dims(seq, view) { // [rows, cols, rowSpacing, colSpacing]
    const [X, Y, Z] = this.vols[seq].h.shape, [sx, sy, sz] = this.vols[seq].h.spacing;
    return view === "axial" ? [Y, X, sy, sx] : view === "coronal" ? [Z, X, sz, sx] : [Z, Y, sz, sy];
  }

  flip(view) { return view === "sagittal" || this.st.convention === "radiological"; }

  // voxel (continuous) -> (row, col) of the displayed slice
  toRC(seq, view, ijk) {
    const [X, Y, Z] = this.vols[seq].h.shape;
    let r, ca, n;
    if (view === "axial") { r = Y - 1 - ijk[1]; ca = ijk[0]; n = X; } else if (view === "coronal") { r = Z - 1 - ijk[2]; ca = ijk[0]; n = X; } else { r = Z - 1 - ijk[2]; ca = ijk[1]; n = Y; }
    return [r, this.flip(view) ? n - 1 - ca : ca];
  }

  fromRC(seq, view, r, c, index) {
    const [X, Y, Z] = this.vols[seq].h.shape;
    const n = view === "sagittal" ? Y : X;
    const ca = this.flip(view) ? n - 1 - c : c;
    if (view === "axial") return [ca, Y - 1 - r, index];
    if (view === "coronal") return [ca, index, Z - 1 - r];
    return [index, ca, Z - 1 - r];
  }

  // CSS-pixel layout of a view: image origin, CSS px per mm
  layout(seq, view, cw, ch, zoom, pan) {
    const [rows, cols, rs, cs] = this.dims(seq, view);
    const fit = Math.min(cw / (cols * cs), ch / (rows * rs));
    const ppm = fit * zoom;
    const w = cols * cs * ppm, h = rows * rs * ppm;
    return { x0: (cw - w) / 2 + pan[0], y0: (ch - h) / 2 + pan[1], ppm, w, h, rows, cols, rs, cs };
  }

  viewLayout(view) {
    const c = this.canvases[view];
    return this.layout(this.st.seq, view, c.clientWidth, c.clientHeight, this.st.zoom, this.panOf(view));
  }

  panOf(view) { return this.st.pan[view] || [0, 0]; }

  rcToCss(L, r, c) { return [L.x0 + (c + 0.5) * L.cs * L.ppm, L.y0 + (r + 0.5) * L.rs * L.ppm]; }

  cssToRc(L, x, y) { return [(y - L.y0) / (L.rs * L.ppm) - 0.5, (x - L.x0) / (L.cs * L.ppm) - 0.5]; }

  eventToVoxel(view, ev, clip = true) {
    const c = this.canvases[view];
    const rect = c.getBoundingClientRect();
    const L = this.viewLayout(view);
    let [r, col] = this.cssToRc(L, ev.clientX - rect.left, ev.clientY - rect.top);
    if (clip) { r = clamp(r, 0, L.rows - 1); col = clamp(col, 0, L.cols - 1); }
    const index = this.ijkOf(this.st.seq)[AXIS[view]];
    return this.fromRC(this.st.seq, view, r, col, index);
  }

  // ------------------------------------------------------------------ interaction
  setTool(t, quiet) {
    this.st.tool = t;
    this.draft = null;
    for (const [k, b] of Object.entries(this.toolBtns)) b.classList.toggle("on", k === t);
    for (const v of VIEWS) { this.viewEls[v].className = `view tool-${t}` + (v === this.st.active ? " active" : ""); }
    if (!quiet) {
      const unknown = this.vols[this.st.seq] && !this.vols[this.st.seq].h.geometry_known;
      this.setNote((t === "ruler" || t === "rano") && unknown ? "Sizes unknown: this sequence has no trustworthy voxel size, so the viewer does not measure in mm." :
        t === "rano" ? "RANO: on an axial slice, drag the longest diameter, then drag across it for the longest perpendicular diameter." : "");
      this.request("tool");
    }
  }

  setActive(view) {
    if (this.st.active === view) return;
    this.st.active = view;
    for (const v of VIEWS) this.viewEls[v].classList.toggle("active", v === view);
  }

  setSeq(seq, ev) {
    if (!this.vols[seq]) return;
    this.st.seq = seq;
    this.seqSel.value = seq;
    this.fillPresets();
    this.draft = null;
    this.request("sequence", ev);
    this.reportCrosshair();
  }

  setPreset(p, ev) {
    const seq = this.st.seq;
    if (p === "Manual") return;
    this.st.preset[seq] = p;
    this.st.win[seq] = this.vols[seq].h.presets[p].slice();
    this.request("window", ev);
  }

  setConvention(c, ev) {
    this.st.convention = c;
    this.convBtn.textContent = c === "radiological" ? "Radiological" : "Neurological";
    this.cache = {};
    this.request("convention", ev);
    this.reportCrosshair();
  }

  step(view, d, ev) {
    const seq = this.st.seq;
    const ijk = this.ijkOf(seq);
    const a = AXIS[view];
    ijk[a] = clamp(ijk[a] + d, 0, this.vols[seq].h.shape[a] - 1);
    this.st.mm = apply4(this.vols[seq].A, ijk);
    this.request("slice", ev);
    this.reportCrosshair();
  }

  placeCrosshair(view, ev) {
    const ijk = this.eventToVoxel(view, ev).map(Math.round);
    this.st.mm = apply4(this.vols[this.st.seq].A, ijk);
    this.request("crosshair", ev);
    this.reportCrosshair();
  }

  onKey(ev) {
    if (!this.vols[this.st.seq]) return;
    const up = ev.key === "ArrowUp" || ev.key === "PageUp";
    const down = ev.key === "ArrowDown" || ev.key === "PageDown";
    if (up || down) { ev.preventDefault(); this.step(this.st.active, up ? 1 : -1, ev); } else if (ev.key === "Escape") { this.draft = null; this.request("measure", ev); }
  }

  bindCanvas(view, c) {
    c.addEventListener("contextmenu", (ev) => ev.preventDefault());
    c.addEventListener("pointerenter", () => this.setActive(view));
    c.addEventListener("wheel", (ev) => {
      if (!this.vols[this.st.seq]) return;
      ev.preventDefault();
      this.setActive(view);
      if (ev.ctrlKey || ev.metaKey) {
        const rect = c.getBoundingClientRect();
        this.zoomAt(view, ev.clientX - rect.left, ev.clientY - rect.top, Math.exp(-ev.deltaY * 0.002), ev);
      } else {
        this.step(view, ev.deltaY < 0 ? 1 : -1, ev);
      }
    }, { passive: false });
    c.addEventListener("pointerdown", (ev) => {
      if (!this.vols[this.st.seq]) return;
      ev.preventDefault();
      this.root.focus({ preventScroll: true });
      this.setActive(view);
      c.setPointerCapture(ev.pointerId);
      const mode = ev.button === 2 ? "window" : ev.button === 1 ? "pan" : this.st.tool;
      this.drag = { view, mode, x: ev.clientX, y: ev.clientY, win: this.windowOf(this.st.seq).slice(),
        pan: this.panOf(view).slice(), zoom: this.st.zoom };
      if (mode === "crosshair") this.placeCrosshair(view, ev);
      else if (mode === "ruler" || mode === "rano") this.measureDown(view, ev);
    });
    c.addEventListener("pointerleave", () => { this.hover.textContent = ""; });
    c.addEventListener("pointermove", (ev) => {
      const d = this.drag;
      if (!d) this.showHover(view, ev);
      if (!d || d.view !== view) return;
      const dx = ev.clientX - d.x, dy = ev.clientY - d.y;
      if (d.mode === "crosshair") this.placeCrosshair(view, ev);
      else if (d.mode === "pan") { this.st.pan[view] = [d.pan[0] + dx, d.pan[1] + dy]; this.request("pan", ev); } else if (d.mode === "zoom") {
        const rect = c.getBoundingClientRect();
        this.st.zoom = d.zoom; this.st.pan[view] = d.pan.slice();
        this.zoomAt(view, d.x - rect.left, d.y - rect.top, Math.exp(-dy * 0.01), ev);
      } else if (d.mode === "window") {
        const seq = this.st.seq, h = this.vols[seq].h;
        const range = 255 * h.scale;
        const w = Math.max(d.win[1] * Math.exp(dx * 0.005), range / 1000);
        const l = d.win[0] - dy * range / 400;
        this.st.win[seq] = [l, w];
        this.st.preset[seq] = "Manual";
        this.presetSel.value = "Manual";
        this.request("window", ev);
      } else if (d.mode === "ruler" || d.mode === "rano") this.measureMove(view, ev);
    });
    const end = (ev) => {
      const d = this.drag;
      if (!d || d.view !== view) return;
      this.drag = null;
      if (d.mode === "ruler" || d.mode === "rano") this.measureUp(view, ev);
    };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
  }

  showHover(view, ev) { // the voxel under the mouse and its value (text only, no repaint)
    const v = this.vols[this.st.seq];
    if (!v || !v.data) return;
    const rect = this.canvases[view].getBoundingClientRect();
    const L = this.viewLayout(view);
    const [r, c] = this.cssToRc(L, ev.clientX - rect.left, ev.clientY - rect.top);
    if (r < -0.5 || c < -0.5 || r > L.rows - 0.5 || c > L.cols - 0.5) { this.hover.textContent = ""; return; }
    const ijk = this.eventToVoxel(view, ev).map(Math.round);
    const val = v.data[ijk[0] + v.h.shape[0] * (ijk[1] + v.h.shape[1] * ijk[2])] * v.h.scale + v.h.offset;
    const mm = apply4(v.A, ijk);
    this.hover.textContent = `mouse: voxel (${ijk.join(", ")}) · (${fmt(mm[0])}, ${fmt(mm[1])}, ${fmt(mm[2])}) mm · value ≈ ${fmtVal(val)}`;
  }

  zoomAt(view, x, y, factor, ev) {
    // keep the point under the mouse still: pan' = p - (p - c - pan) * f, c the canvas centre
    const c = this.canvases[view];
    const z0 = this.st.zoom, z1 = clamp(z0 * factor, 0.25, 16);
    const f = z1 / z0;
    for (const v of VIEWS) {
      const pan = this.panOf(v);
      if (v === view) {
        const cx = c.clientWidth / 2, cy = c.clientHeight / 2;
        this.st.pan[v] = [x - cx - (x - cx - pan[0]) * f, y - cy - (y - cy - pan[1]) * f];
      } else this.st.pan[v] = [pan[0] * f, pan[1] * f];
    }
    this.st.zoom = z1;
    this.request("zoom", ev);
  }

  // ------------------------------------------------------------------ measurements
  planeMm(seq, view, ijk) { // in-plane mm coordinates (col * cs, row * rs) of a voxel
    const [, , rs, cs] = this.dims(seq, view);
    const [r, c] = this.toRC(seq, view, ijk);
    return [c * cs, r * rs];
  }

  measureDown(view, ev) {
    const seq = this.st.seq;
    if (!this.vols[seq].h.geometry_known) {
      this.setNote("Sizes unknown: this sequence has no trustworthy voxel size, so the viewer does not measure in mm.");
      this.drag.mode = "none";
      return;
    }
    const p = this.eventToVoxel(view, ev);
    if (this.drag.mode === "rano") {
      if (view !== "axial") {
        this.setNote("RANO is measured on an axial slice: use the axial view.");
        this.drag.mode = "none";
        return;
      }
      if (this.draft && this.draft.type === "rano" && this.draft.phase === 2 && this.draft.seq === seq &&
          this.draft.index === this.ijkOf(seq)[2]) {
        this.draft.p3 = p; this.draft.p4 = p;
      } else this.draft = { type: "rano", phase: 1, view, seq, index: this.ijkOf(seq)[2], p1: p, p2: p };
    } else this.draft = { type: "distance", view, seq, index: this.ijkOf(seq)[AXIS[view]], p1: p, p2: p };
    this.request("measure", ev);
  }

  measureMove(view, ev) {
    const d = this.draft;
    if (!d) return;
    const p = this.eventToVoxel(view, ev);
    if (d.type === "rano" && d.phase === 2) d.p4 = p; else d.p2 = p;
    this.request("measure", ev);
  }

  perpEnds(d) { // the perpendicular's ends (voxel coords) from the second drag, in mm-true geometry
    const seq = d.seq, view = "axial";
    const P = (q) => this.planeMm(seq, view, q);
    const a = P(d.p1), b = P(d.p2), p3 = P(d.p3), p4 = P(d.p4);
    const L = Math.hypot(b[0] - a[0], b[1] - a[1]);
    const u = [(b[0] - a[0]) / L, (b[1] - a[1]) / L], n = [-u[1], u[0]];
    const t = clamp((p3[0] - a[0]) * u[0] + (p3[1] - a[1]) * u[1], 0, L);
    const foot = [a[0] + t * u[0], a[1] + t * u[1]];
    const s3 = (p3[0] - a[0]) * n[0] + (p3[1] - a[1]) * n[1] - ((foot[0] - a[0]) * n[0] + (foot[1] - a[1]) * n[1]);
    const s4 = (p4[0] - a[0]) * n[0] + (p4[1] - a[1]) * n[1] - ((foot[0] - a[0]) * n[0] + (foot[1] - a[1]) * n[1]);
    const e3 = [foot[0] + s3 * n[0], foot[1] + s3 * n[1]], e4 = [foot[0] + s4 * n[0], foot[1] + s4 * n[1]];
    const [, , rs, cs] = this.dims(seq, view);
    const back = (m) => this.fromRC(seq, view, m[1] / rs, m[0] / cs, d.index);
    return { e3: back(e3), e4: back(e4), perp: Math.abs(s4 - s3), long: L };
  }

  lengthMm(d, p, q) {
    const a = this.planeMm(d.seq, d.view, p), b = this.planeMm(d.seq, d.view, q);
    return Math.hypot(b[0] - a[0], b[1] - a[1]);
  }

  measureUp(view, ev) {
    const d = this.draft;
    if (!d) return;
    const r = (v) => v.map((x) => Math.round(x * 100) / 100);
    if (d.type === "distance") {
      const mm = this.lengthMm(d, d.p1, d.p2);
      this.draft = null;
      if (mm > 0) {
        this.ms.push({ type: "distance", view: d.view, seq: d.seq, index: d.index, mm: Math.round(mm * 100) / 100, voxels: [r(d.p1), r(d.p2)] });
        this.reportMeasurements();
      }
    } else if (d.phase === 1) {
      if (this.lengthMm(d, d.p1, d.p2) > 0) { d.phase = 2; this.setNote("RANO: now drag across the longest diameter for the perpendicular (Esc cancels)."); } else this.draft = null;
    } else {
      const pe = this.perpEnds(d);
      this.draft = null;
      if (pe.perp > 0) {
        const long = Math.round(pe.long * 100) / 100, perp = Math.round(pe.perp * 100) / 100;
        this.ms.push({ type: "rano", view: "axial", seq: d.seq, index: d.index,
          mm: { long_mm: long, perp_mm: perp, product_mm2: Math.round(pe.long * pe.perp * 10) / 10 },
          voxels: [r(d.p1), r(d.p2), r(pe.e3), r(pe.e4)] });
        this.setNote("");
        this.reportMeasurements();
      }
    }
    this.request("measure", ev);
  }

  renderMeasurements() {
    const box = this.measEl;
    box.innerHTML = "";
    const auto = this.header && this.header.auto_rano;
    if (!this.ms.length && !auto) return;
    const t = el("table", {}, box);
    const hr = el("tr", {}, t);
    for (const s of ["", "measurement", "where", ""]) el("th", {}, hr, s);
    this.ms.forEach((m, n) => {
      const tr = el("tr", { "data-measurement": String(n) }, t);
      el("td", {}, tr, m.type === "rano" ? "RANO (yours)" : "Distance");
      el("td", {}, tr, m.type === "rano" ? `${fmt(m.mm.long_mm)} × ${fmt(m.mm.perp_mm)} mm = ${fmt(m.mm.product_mm2, 0)} mm²` : `${fmt(m.mm)} mm`);
      const go = el("td", {}, tr);
      const b = el("button", { title: "Show this slice" }, go, `${m.seq} ${m.view} ${m.index}`);
      b.onclick = (ev) => this.goTo(m, ev);
      const del = el("button", { title: "Delete" }, el("td", {}, tr), "×");
      del.onclick = () => { this.ms.splice(n, 1); this.reportMeasurements(); this.request("measure"); };
    });
    if (auto) {
      const tr = el("tr", { "data-role": "auto-rano" }, t);
      el("td", {}, tr, "RANO (model mask)");
      el("td", {}, tr, auto.long_mm == null ? (auto.note || "sizes unknown") :
        `${fmt(auto.long_mm)} × ${fmt(auto.perp_mm)} mm = ${fmt(auto.product_mm2, 0)} mm²`);
      const go = el("td", {}, tr);
      if (auto.mm) {
        const b = el("button", { title: "Crosshair to the largest axial cross-section" }, go, `${auto.seq} axial ${auto.axial_slice}`);
        b.onclick = (ev) => { this.st.mm = auto.mm.slice(); if (this.vols[auto.seq]) this.setSeq(auto.seq, ev); this.request("crosshair", ev); this.reportCrosshair(); };
      }
      el("td", {}, tr);
    }
  }

  goTo(m, ev) {
    if (m.seq !== this.st.seq) this.setSeq(m.seq, ev);
    const c = m.voxels[0].map(Math.round);
    this.st.mm = apply4(this.vols[m.seq].A, c);
    this.request("crosshair", ev);
    this.reportCrosshair();
  }

  // ------------------------------------------------------------------ reporting to Python
  reportCrosshair() {
    clearTimeout(this.chTimer);
    this.chTimer = setTimeout(() => {
      if (!this.api) return;
      this.api.setStateValue("crosshair", { mm: this.st.mm.map((x) => Math.round(x * 1000) / 1000), seq: this.st.seq,
        convention: this.st.convention });
    }, 800);  // after the user pauses: a rerun per key press would load the server for nothing
  }

  reportMeasurements() {
    this.renderMeasurements();
    if (this.api) this.api.setStateValue("measurements", this.measurements());
  }

  measurements() {
    return this.ms.map((m) => ({ type: m.type, view: m.view, seq: m.seq, slice: m.index,
      mm: typeof m.mm === "object" ? { ...m.mm } : m.mm, voxels: m.voxels.map((v) => v.slice()) }));
  }

  // ------------------------------------------------------------------ painting
  request(kind, ev) {
    const t0 = ev && typeof ev.timeStamp === "number" && ev.timeStamp > 0 ? ev.timeStamp : performance.now();
    this.pending.push({ kind, t0 });
    if (!this.frame) this.frame = requestAnimationFrame(() => this.paint());
  }

  paint() {
    this.frame = 0;
    const done = this.pending;
    this.pending = [];
    if (!this.vols[this.st.seq] || !this.vols[this.st.seq].data) return;
    for (const v of VIEWS) this.paintView(v);
    this.paintStrip();
    this.paintReadout();
    if (!this.ready) { this.ready = true; this.root.setAttribute("data-ready", "1"); }
    MEMORY[this.header.study] = { st: JSON.parse(JSON.stringify(this.st)), ms: this.ms, nonce: this.nonce };
    // the frame is composited after this callback: log on the task after it
    const kinds = done.filter((p) => LOGGED.has(p.kind));
    if (kinds.length) setTimeout(() => { const t = performance.now(); for (const p of kinds) this.paintLog.push({ kind: p.kind, ms: t - p.t0 }); }, 0);
    if (this.paintLog.length > 5000) this.paintLog.splice(0, 1000);
  }

  sizeCanvas(c) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr)), h = Math.max(1, Math.round(c.clientHeight * dpr));
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return ctx;
  }

  // the slice of `seq` through `ijk` as an image of (cols x rows) pixels, gray + fill overlays
  sliceImage(seq, view, index, slot) {
    const v = this.vols[seq];
    const hm = this.header.mask_style || {};
    const lut = this.grayLut(seq);
    const key = [seq, view, index, v.lutKey, this.st.convention, hm.show, hm.fill, !!this.ovLut].join("|");
    let ent = this.cache[slot];
    if (ent && ent.key === key) return ent;
    const [rows, cols] = this.dims(seq, view);
    if (!ent || ent.canvas.width !== cols || ent.canvas.height !== rows) {
      const canvas = document.createElement("canvas");
      canvas.width = cols; canvas.height = rows;
      ent = { canvas, ctx: canvas.getContext("2d"), img: new ImageData(cols, rows), edges: [] };
    }
    ent.key = key;
    const out = new Uint32Array(ent.img.data.buffer);
    const [X, Y] = v.h.shape;
    const flip = this.flip(view);
    // voxel offset of pixel (r, c): base + r * rstep + c * cstep (Fortran order i + X*(j + Y*k))
    let base, rstep, cstep;
    if (view === "axial") { base = (Y - 1) * X + index * X * Y; rstep = -X; cstep = 1; if (flip) { base += X - 1; cstep = -1; } } else if (view === "coronal") {
      const Z = v.h.shape[2]; base = index * X + (Z - 1) * X * Y; rstep = -X * Y; cstep = 1; if (flip) { base += X - 1; cstep = -1; }
    } else { const Z = v.h.shape[2]; base = index + (Z - 1) * X * Y; rstep = -X * Y; cstep = X; if (flip) { base += (Y - 1) * X; cstep = -X; } }
    const d = v.data;
    const masks = hm.show ? v.masks.filter((m) => m.data && (hm.shown || []).includes(m.name)) : [];
    const fillA = clamp(hm.fill || 0, 0, 1);
    const ov = this.ovLut && v.overlay ? v.overlay : null, ovl = this.ovLut;
    const labs = masks.map(() => new Uint8Array(rows * cols));
    for (let r = 0, p = 0; r < rows; r++) {
      let o = base + r * rstep;
      for (let c = 0; c < cols; c++, p++, o += cstep) {
        let px = lut[d[o]];
        if (masks.length) {
          for (let m = 0; m < masks.length; m++) {
            if (masks[m].data[o]) {
              labs[m][p] = 1;
              if (fillA > 0) {
                const rgb = masks[m].rgb;
                const R = px & 255, G = (px >>> 8) & 255, B = (px >>> 16) & 255;
                px = (0xff000000 | (Math.round(B + (rgb[2] - B) * fillA) << 16) | (Math.round(G + (rgb[1] - G) * fillA) << 8) | Math.round(R + (rgb[0] - R) * fillA)) >>> 0;
              }
            }
          }
        }
        if (ov) {
          const q = ovl[ov[o]];
          if (q) {
            const a = (q >>> 24) / 255;
            const R = px & 255, G = (px >>> 8) & 255, B = (px >>> 16) & 255;
            px = (0xff000000 | (Math.round(B + (((q >>> 16) & 255) - B) * a) << 16) | (Math.round(G + (((q >>> 8) & 255) - G) * a) << 8) | Math.round(R + ((q & 255) - R) * a)) >>> 0;
          }
        }
        out[p] = px;
      }
    }
    ent.ctx.putImageData(ent.img, 0, 0);
    // outline edges (pixel-edge segments between labelled and unlabelled pixels), drawn as vectors
    ent.edges = hm.show && hm.outline ? masks.map((m, n) => ({ rgb: m.rgb, segs: edgesOf(labs[n], rows, cols) })) : [];
    this.cache[slot] = ent;
    return ent;
  }

  drawSlice(ctx, ent, L) {
    ctx.imageSmoothingEnabled = L.ppm * Math.min(L.rs, L.cs) < 6; // bilinear until voxels are big
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(ent.canvas, L.x0, L.y0, L.w, L.h);
    for (const e of ent.edges) {
      if (!e.segs.length) continue;
      ctx.strokeStyle = `rgb(${e.rgb[0]},${e.rgb[1]},${e.rgb[2]})`;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      const sx = L.cs * L.ppm, sy = L.rs * L.ppm;
      const s = e.segs;
      for (let n = 0; n < s.length; n += 4) {
        ctx.moveTo(L.x0 + s[n] * sx, L.y0 + s[n + 1] * sy);
        ctx.lineTo(L.x0 + s[n + 2] * sx, L.y0 + s[n + 3] * sy);
      }
      ctx.stroke();
    }
  }

  paintView(view) {
    const c = this.canvases[view];
    const ctx = this.sizeCanvas(c);
    const W = c.clientWidth, H = c.clientHeight;
    const seq = this.st.seq, vol = this.vols[seq];
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, W, H);
    const ijk = this.ijkOf(seq);
    const index = ijk[AXIS[view]];
    const L = this.viewLayout(view);
    const [rows, cols] = this.dims(seq, view);
    if ((rows === 1 || cols === 1) && vol.h.shape.some((n) => n > 1)) {
      // a one-voxel-thick study: this view would be a one-pixel strip
      ctx.fillStyle = "rgba(255, 255, 255, 0.7)"; ctx.font = "12px system-ui, sans-serif";
      ctx.textAlign = "center"; ctx.textBaseline = "middle";
      ctx.fillText(`${view}: not shown (a single slice)`, W / 2, H / 2);
      return;
    }
    const ent = this.sliceImage(seq, view, index, "main-" + view);
    this.drawSlice(ctx, ent, L);
    // crosshair: the other two views' planes through the voxel centre
    const [r, col] = this.toRC(seq, view, ijk);
    const [x, y] = this.rcToCss(L, r, col);
    ctx.strokeStyle = CROSS;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(0, Math.round(y) + 0.5); ctx.lineTo(x - 6, Math.round(y) + 0.5);
    ctx.moveTo(x + 6, Math.round(y) + 0.5); ctx.lineTo(W, Math.round(y) + 0.5);
    ctx.moveTo(Math.round(x) + 0.5, 0); ctx.lineTo(Math.round(x) + 0.5, y - 6);
    ctx.moveTo(Math.round(x) + 0.5, y + 6); ctx.lineTo(Math.round(x) + 0.5, H);
    ctx.stroke();
    this.paintMeasurements(ctx, view, L, index);
    // orientation letters
    const [t, b, l, rr] = this.letters(view);
    ctx.font = "600 13px system-ui, sans-serif";
    ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
    ctx.textAlign = "center"; ctx.textBaseline = "top"; ctx.fillText(t, W / 2, 4);
    ctx.textBaseline = "bottom"; ctx.fillText(b, W / 2, H - 4);
    ctx.textBaseline = "middle"; ctx.textAlign = "left"; ctx.fillText(l, 5, H / 2);
    ctx.textAlign = "right"; ctx.fillText(rr, W - 5, H / 2);
    // view name, slice
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "left"; ctx.textBaseline = "top";
    ctx.fillText(`${SHORT[view]} ${index}/${vol.h.shape[AXIS[view]] - 1}`, 5, 4);
    this.scaleBar(ctx, L, W, H, vol.h.geometry_known);
  }

  letters(view) {
    const [t, b, l, r] = LETTERS[view];
    return this.st.convention === "neurological" && view !== "sagittal" ? [t, b, r, l] : [t, b, l, r];
  }

  scaleBar(ctx, L, W, H, known) {
    ctx.textAlign = "right"; ctx.textBaseline = "bottom";
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
    if (!known) { ctx.fillText("sizes unknown", W - 6, H - 6); return; }
    const target = W * 0.22 / L.ppm;
    const steps = [1, 2, 5, 10, 20, 30, 40, 50, 100, 200, 500];
    const mm = steps.reduce((best, s) => (s <= target ? s : best), 1);
    const len = mm * L.ppm;
    ctx.fillRect(W - 8 - len, H - 10, len, 2);
    ctx.fillRect(W - 8 - len, H - 14, 1, 6);
    ctx.fillRect(W - 9, H - 14, 1, 6);
    ctx.fillText(`${mm} mm`, W - 8, H - 14);
  }

  paintMeasurements(ctx, view, L, index) {
    const seq = this.st.seq;
    const list = this.ms.filter((m) => m.view === view && m.seq === seq && m.index === index);
    const d = this.draft;
    if (d && d.view === view && d.seq === seq && d.index === index) list.push({ ...d, draft: true });
    ctx.lineWidth = 1.5;
    ctx.font = "600 12px system-ui, sans-serif";
    for (const m of list) {
      const pt = (q) => { const [r, c] = this.toRC(seq, view, q); return this.rcToCss(L, r, c); };
      const line = (p, q) => {
        const a = pt(p), b = pt(q);
        ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
        for (const e of [a, b]) { ctx.beginPath(); ctx.arc(e[0], e[1], 2.5, 0, 2 * Math.PI); ctx.fill(); }
        return b;
      };
      ctx.strokeStyle = MEAS; ctx.fillStyle = MEAS;
      ctx.setLineDash(m.draft ? [5, 3] : []);
      let label, at;
      if (m.type === "distance") {
        at = line(m.p1 || m.voxels[0], m.p2 || m.voxels[1]);
        label = `${fmt(m.draft ? this.lengthMm(m, m.p1, m.p2) : m.mm)} mm`;
      } else if (m.draft) {
        at = line(m.p1, m.p2);
        label = `${fmt(this.lengthMm(m, m.p1, m.p2))} mm`;
        if (m.phase === 2 && m.p3) {
          const pe = this.perpEnds(m);
          at = line(pe.e3, pe.e4);
          label = `${fmt(pe.long)} × ${fmt(pe.perp)} mm`;
        }
      } else {
        line(m.voxels[0], m.voxels[1]);
        at = line(m.voxels[2], m.voxels[3]);
        label = `${fmt(m.mm.long_mm)} × ${fmt(m.mm.perp_mm)} = ${fmt(m.mm.product_mm2, 0)} mm²`;
      }
      ctx.setLineDash([]);
      ctx.textAlign = "left"; ctx.textBaseline = "bottom";
      ctx.fillStyle = "rgba(0, 0, 0, 0.6)";
      const w = ctx.measureText(label).width;
      // Kept inside the canvas: a measurement ending near the right or top edge would cut its label.
      const W = ctx.canvas.clientWidth || ctx.canvas.width;
      const x = Math.max(2, Math.min(at[0] + 6, W - w - 10)), y = Math.max(at[1], 20);
      ctx.fillRect(x, y - 18, w + 6, 16);
      ctx.fillStyle = MEAS;
      ctx.fillText(label, x + 3, y - 4);
    }
  }

  buildStrip() {
    const names = this.header.sequences.map((s) => s.name);
    const key = names.join("|");
    if (this.stripKey === key) return;
    this.stripKey = key;
    this.strip.innerHTML = "";
    this.strip.style.gridTemplateColumns = `repeat(${names.length}, minmax(0, 1fr))`;
    this.strip.style.maxWidth = `${names.length * 260}px`;  // one sequence: not one huge cell
    this.stripCanvases = {};
    for (const s of names) {
      const cell = el("div", { class: "cell", "data-seq": s, title: `Show ${s} in the views above` }, this.strip);
      const c = el("canvas", { "data-strip": s }, cell);
      cell.onclick = (ev) => this.setSeq(s, ev);
      this.stripCanvases[s] = c;
    }
  }

  paintStrip() {
    const view = this.st.stripView;
    for (const [s, c] of Object.entries(this.stripCanvases)) {
      c.parentElement.classList.toggle("current", s === this.st.seq);
      const ctx = this.sizeCanvas(c);
      const W = c.clientWidth, H = c.clientHeight;
      ctx.fillStyle = "#000"; ctx.fillRect(0, 0, W, H);
      const v = this.vols[s];
      if (!v || !v.data) continue;
      const ijk = this.ijkOf(s);
      const index = ijk[AXIS[view]];
      const L = this.layout(s, view, W, H, 1, [0, 0]);
      this.drawSlice(ctx, this.sliceImage(s, view, index, "strip-" + s), L);
      const [r, col] = this.toRC(s, view, ijk);
      const [x, y] = this.rcToCss(L, r, col);
      ctx.strokeStyle = CROSS; ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(0, Math.round(y) + 0.5); ctx.lineTo(W, Math.round(y) + 0.5);
      ctx.moveTo(Math.round(x) + 0.5, 0); ctx.lineTo(Math.round(x) + 0.5, H);
      ctx.stroke();
      ctx.font = "12px system-ui, sans-serif"; ctx.fillStyle = "rgba(255,255,255,0.9)";
      ctx.textAlign = "left"; ctx.textBaseline = "top";
      ctx.fillText(`${s} · ${view} ${index}`, 5, 4);
      const val = v.data[ijk[0] + v.h.shape[0] * (ijk[1] + v.h.shape[1] * ijk[2])] * v.h.scale + v.h.offset;
      ctx.textBaseline = "bottom"; ctx.fillText(`≈ ${fmtVal(val)}`, 5, H - 4);
    }
  }

  paintReadout() {
    const seq = this.st.seq, v = this.vols[seq];
    const ijk = this.ijkOf(seq);
    const code = v.data[ijk[0] + v.h.shape[0] * (ijk[1] + v.h.shape[1] * ijk[2])];
    const val = code * v.h.scale + v.h.offset;
    const [l, w] = this.windowOf(seq);
    const mm = this.st.mm;
    this.readout.textContent = `${seq} · voxel (i, j, k) = (${ijk.join(", ")}) · (x, y, z) = (${fmt(mm[0])}, ${fmt(mm[1])}, ${fmt(mm[2])}) mm scanner RAS` +
      (v.h.geometry_known ? "" : " (sizes unknown)") + ` · value ≈ ${fmtVal(val)} · level ${fmtVal(l)} / width ${fmtVal(w)} · zoom ${this.st.zoom.toFixed(2)}× · ${this.st.convention}`;
  }

  // ------------------------------------------------------------------ test hooks
  state() {
    const seq = this.st.seq;
    const [l, w] = seq ? this.windowOf(seq) : [null, null];
    return { seq, ijk: seq ? this.ijkOf(seq) : null, mm: this.st.mm.slice(), level: l, width: w, zoom: this.st.zoom,
      pan: this.panOf(this.st.active).slice(), tool: this.st.tool, active: this.st.active, convention: this.st.convention };
  }

  voxelToClient(view, ijk) {
    const c = this.canvases[view];
    const rect = c.getBoundingClientRect();
    const L = this.viewLayout(view);
    const [r, col] = this.toRC(this.st.seq, view, ijk);
    const [x, y] = this.rcToCss(L, r, col);
    return { x: rect.left + x, y: rect.top + y };
  }

  destroy() {
    this.ro.disconnect();
    clearTimeout(this.chTimer);
    if (this.frame) cancelAnimationFrame(this.frame);
  }
}

// pixel-edge segments [c0, r0, c1, r1, ...] in pixel units (top-left corner origin)
function edgesOf(lab, rows, cols) {
  const s = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0, p = r * cols; c < cols; c++, p++) {
      if (!lab[p]) continue;
      if (r === 0 || !lab[p - cols]) s.push(c, r, c + 1, r);
      if (r === rows - 1 || !lab[p + cols]) s.push(c, r + 1, c + 1, r + 1);
      if (c === 0 || !lab[p - 1]) s.push(c, r, c, r + 1);
      if (c === cols - 1 || !lab[p + 1]) s.push(c + 1, r, c + 1, r + 1);
    }
  }
  return s;
}

export default function (component) {
  const { data, parentElement, setStateValue, setTriggerValue } = component;
  let v = parentElement.__tbViewer;
  if (!v) v = parentElement.__tbViewer = new Viewer(parentElement);
  window.tbViewer = v;
  if (data) v.load(data, { setStateValue, setTriggerValue });
  return () => {
    // unmount: the next mount builds a fresh viewer
    v.destroy();
    if (parentElement.__tbViewer === v) parentElement.__tbViewer = null;
    if (window.tbViewer === v) window.tbViewer = null;
    if (v.root.parentNode) v.root.parentNode.removeChild(v.root);
  };
}
