/* The report's behaviour, plain JavaScript without libraries: run tabs, sortable and filterable
   tables, canvas plots drawn from the embedded data, and a paginated image browser with a
   synchronised zoom. Nothing here requests anything outside the report's folder. */
(function () {
  'use strict';
  var REPORT = JSON.parse(document.getElementById('report-data').textContent);
  var PAGE = 25;
  var started = {};

  function $(root, selector) { return root.querySelector(selector); }
  function $$(root, selector) { return Array.prototype.slice.call(root.querySelectorAll(selector)); }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function fmt(value, digits) { return value === null || value === undefined ? '–' : value.toFixed(digits); }
  function metricInfo(run, name) { return run.metrics.filter(function (m) { return m.name === name; })[0]; }

  /* ---------- run tabs ---------- */
  function showRun(key) {
    $$(document, 'section.run').forEach(function (s) { s.hidden = s.dataset.run !== key; });
    $$(document, '.run-tab').forEach(function (b) { b.setAttribute('aria-selected', String(b.dataset.run === key)); });
    startRun(key);
  }
  $$(document, '.run-tab').forEach(function (b) { b.addEventListener('click', function () { showRun(b.dataset.run); }); });

  /* ---------- tables: sort by any column, filter by method and bucket ---------- */
  function cellKey(row, index, type) {
    var cell = row.cells[index];
    if (type === 'text') return cell.dataset.v || cell.textContent;
    if (type === 'bucket') return Number(cell.dataset.bucketRank);
    var v = cell.dataset.v;
    return v === '' || v === undefined ? null : Number(v);
  }
  function sortTable(table, index) {
    var th = table.tHead.rows[0].cells[index];
    var type = th.dataset.type || 'num';
    // a later click reverses; the first puts the best first where the column has a direction (data-higher)
    var current = th.getAttribute('aria-sort');
    var descending = current ? current === 'ascending' : th.dataset.higher === 'true';
    $$(table.tHead, 'th').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellKey(a, index, type), y = cellKey(b, index, type);
      if (x === null && y === null) return 0;
      if (x === null) return 1;  // empty cells last, whatever the direction
      if (y === null) return -1;
      var c = type === 'text' ? String(x).localeCompare(String(y)) : x - y;
      return descending ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  $$(document, 'table.sortable').forEach(function (table) {
    $$(table.tHead, 'th').forEach(function (th, index) {
      th.tabIndex = 0;
      th.title = 'sort by this column';
      th.addEventListener('click', function () { sortTable(table, index); });
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter') sortTable(table, index); });
    });
  });
  $$(document, '.filters').forEach(function (box) {
    var table = $(document, 'table.results[data-run="' + box.dataset.run + '"]');
    function apply() {
      var shown = {};
      $$(box, '.method-filter').forEach(function (c) { shown[c.value] = c.checked; });
      var bucket = $(box, '.bucket-filter').value;
      $$(table.tBodies[0], 'tr').forEach(function (row) {
        row.hidden = !shown[row.dataset.method] || (bucket !== '' && row.dataset.bucket !== bucket);
      });
    }
    box.addEventListener('change', apply);
  });

  /* ---------- canvas plotting ---------- */
  function canvasContext(canvas) {
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth || Number(canvas.getAttribute('width'));
    var height = Math.round(width * 0.64);
    canvas.style.height = height + 'px';
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    var ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = '12px system-ui, sans-serif';
    return { ctx: ctx, width: width, height: height };
  }
  function ticks(low, high, count) {
    if (!(high > low)) { high = low + 1; }
    var step = Math.pow(10, Math.floor(Math.log10((high - low) / count)));
    var err = (high - low) / count / step;
    step *= err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
    var out = [];
    for (var v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) out.push(Number(v.toFixed(10)));
    return { values: out, step: step };
  }
  function frame(c, xRange, yRange, xLabel, yLabel, xTicks) {
    var box = { left: 62, right: c.width - 12, top: 12, bottom: c.height - 42 };
    var pad = (yRange[1] - yRange[0]) * 0.05 || 1;
    var y0 = yRange[0] - pad, y1 = yRange[1] + pad;
    var sx = function (v) { return box.left + (v - xRange[0]) / (xRange[1] - xRange[0]) * (box.right - box.left); };
    var sy = function (v) { return box.bottom - (v - y0) / (y1 - y0) * (box.bottom - box.top); };
    var ctx = c.ctx;
    ctx.strokeStyle = '#999'; ctx.fillStyle = '#333'; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(box.left, box.top); ctx.lineTo(box.left, box.bottom); ctx.lineTo(box.right, box.bottom); ctx.stroke();
    var yt = ticks(y0, y1, 6);
    ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
    yt.values.forEach(function (v) {
      ctx.strokeStyle = '#eee'; ctx.beginPath(); ctx.moveTo(box.left, sy(v)); ctx.lineTo(box.right, sy(v)); ctx.stroke();
      var places = Math.max(0, -Math.floor(Math.log10(yt.step)));
      ctx.fillText(v.toFixed(places), box.left - 6, sy(v));
    });
    ctx.textAlign = 'center'; ctx.textBaseline = 'top';
    (xTicks || ticks(xRange[0], xRange[1], 8).values.map(function (v) { return [v, String(v)]; })).forEach(function (t) {
      ctx.fillText(t[1], sx(t[0]), box.bottom + 5);
    });
    ctx.fillText(xLabel, (box.left + box.right) / 2, c.height - 18);
    ctx.save(); ctx.translate(14, (box.top + box.bottom) / 2); ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = 'middle'; ctx.fillText(yLabel, 0, 0); ctx.restore();
    return { x: sx, y: sy, box: box };
  }
  function pointStyle(count) {
    // many items: fainter, smaller points so that the binned means stay visible
    return { alpha: Math.min(0.55, Math.max(0.04, 150 / Math.max(1, count))), size: count > 2000 ? 2 : 4 };
  }
  function rgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return 'rgba(' + (n >> 16) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + alpha + ')';
  }
  var DASHES = { solid: [], dashed: [7, 4], dashdot: [7, 3, 2, 3], dotted: [2, 3] };
  function marker(ctx, shape, x, y, r) {
    // the shapes of harness.reports.plotdata.MARKERS, filled, with a white edge
    var p = { triangle: [[0, -1.2], [1.1, 0.8], [-1.1, 0.8]], 'triangle-down': [[0, 1.2], [1.1, -0.8], [-1.1, -0.8]],
      'triangle-left': [[-1.2, 0], [0.8, -1.1], [0.8, 1.1]], 'triangle-right': [[1.2, 0], [-0.8, -1.1], [-0.8, 1.1]],
      diamond: [[0, -1.3], [1.1, 0], [0, 1.3], [-1.1, 0]], square: [[-0.9, -0.9], [0.9, -0.9], [0.9, 0.9], [-0.9, 0.9]],
      plus: [[-0.35, -1.1], [0.35, -1.1], [0.35, -0.35], [1.1, -0.35], [1.1, 0.35], [0.35, 0.35], [0.35, 1.1], [-0.35, 1.1],
        [-0.35, 0.35], [-1.1, 0.35], [-1.1, -0.35], [-0.35, -0.35]] }[shape];
    ctx.beginPath();
    if (shape === 'cross') p = [[-0.5, -1], [0, -0.5], [0.5, -1], [1, -0.5], [0.5, 0], [1, 0.5], [0.5, 1], [0, 0.5], [-0.5, 1], [-1, 0.5], [-0.5, 0], [-1, -0.5]];
    if (shape === 'star') { p = []; for (var k = 0; k < 10; k++) { var a = Math.PI * k / 5 - Math.PI / 2, q = k % 2 ? 0.55 : 1.35; p.push([q * Math.cos(a), q * Math.sin(a)]); } }
    if (p) p.forEach(function (v, i) { if (i) ctx.lineTo(x + r * v[0], y + r * v[1]); else ctx.moveTo(x + r * v[0], y + r * v[1]); });
    else ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.closePath(); ctx.fill(); ctx.stroke();
  }
  function band(ctx, s, rows, style) {
    if (!rows.length) return;
    ctx.fillStyle = rgba(style.colour, 0.14);
    ctx.beginPath();
    rows.forEach(function (r, i) { var x = s.x(100 * r.center), y = s.y(r.ci_high); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
    rows.slice().reverse().forEach(function (r) { ctx.lineTo(s.x(100 * r.center), s.y(r.ci_low)); });
    ctx.closePath(); ctx.fill();
  }
  function meanLine(ctx, s, rows, style) {
    // drawn after every band and without a white halo, which would blank out the lines drawn before:
    // a line on top of another leaves the other's dashes and markers visible
    ctx.strokeStyle = style.colour; ctx.lineWidth = 2; ctx.setLineDash(DASHES[style.dash] || []); ctx.beginPath();
    rows.forEach(function (r, i) { var x = s.x(100 * r.center), y = s.y(r.mean); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
    ctx.stroke();
    ctx.setLineDash([]); ctx.lineWidth = 1; ctx.strokeStyle = '#fff'; ctx.fillStyle = style.colour;
    rows.forEach(function (r) { marker(ctx, style.marker, s.x(100 * r.center), s.y(r.mean), 4.5); });
  }
  function extent(values) {
    var lo = Infinity, hi = -Infinity;
    values.forEach(function (v) { if (v !== null && v !== undefined && isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; } });
    return lo === Infinity ? [0, 1] : [lo, hi];
  }
  function ratioRange(run) {
    var r = extent(run.items.ratio);
    return [Math.max(0, Math.floor(100 * r[0] / 10) * 10), Math.min(100, Math.ceil(100 * r[1] / 10) * 10 || 10)];
  }
  function arrow(info) { return info.name + (info.higher ? ' (higher is better)' : ' (lower is better)'); }

  function drawCurve(run, section, state) {
    var canvas = $(section, 'canvas.plot-curve');
    var c = canvasContext(canvas);
    var metric = state.metric, curves = run.curves[state.bins][metric] || {};
    var items = run.items, all = [];
    run.methods.forEach(function (m) {
      if (state.points) all = all.concat(items.values[m][metric]);
      (curves[m] || []).forEach(function (r) { all.push(r.ci_low, r.ci_high); });
    });
    var s = frame(c, ratioRange(run), extent(all), 'measured hole ratio (%)', arrow(metricInfo(run, metric)));
    run.methods.forEach(function (m) {
      if (!state.points) return;
      var style = pointStyle(items.ratio.length), half = style.size / 2;
      c.ctx.fillStyle = rgba(run.styles[m].colour, style.alpha);
      var values = items.values[m][metric];
      for (var i = 0; i < values.length; i++) {
        if (values[i] !== null && items.ratio[i] !== null) c.ctx.fillRect(s.x(100 * items.ratio[i]) - half, s.y(values[i]) - half, style.size, style.size);
      }
    });
    run.methods.forEach(function (m) { band(c.ctx, s, curves[m] || [], run.styles[m]); });
    run.methods.forEach(function (m) { meanLine(c.ctx, s, curves[m] || [], run.styles[m]); });
  }

  function drawBoxes(run, section, state) {
    var canvas = $(section, 'canvas.plot-boxes');
    var c = canvasContext(canvas);
    var metric = state.metric, boxes = run.boxes[metric] || {}, all = [];
    run.methods.forEach(function (m) { (boxes[m] || []).forEach(function (r) { all.push(r.q05, r.q95, r.mean); }); });
    var buckets = run.buckets, n = buckets.length, k = run.methods.length;
    var xt = buckets.map(function (b, i) { return [i + 0.5, b]; });
    var s = frame(c, [0, n], extent(all), 'hole-ratio bucket (%)', arrow(metricInfo(run, metric)), xt);
    var width = 0.8 / k, ctx = c.ctx;
    run.methods.forEach(function (m, j) {
      (boxes[m] || []).forEach(function (r) {
        var i = buckets.indexOf(r.bucket); if (i < 0) return;
        var x0 = s.x(i + 0.1 + j * width + width * 0.1), x1 = s.x(i + 0.1 + (j + 1) * width - width * 0.1), xm = (x0 + x1) / 2;
        ctx.strokeStyle = run.styles[m].colour; ctx.lineWidth = 1.5;
        ctx.beginPath(); ctx.moveTo(xm, s.y(r.q05)); ctx.lineTo(xm, s.y(r.q25)); ctx.moveTo(xm, s.y(r.q75)); ctx.lineTo(xm, s.y(r.q95));
        ctx.moveTo(x0 + 3, s.y(r.q05)); ctx.lineTo(x1 - 3, s.y(r.q05)); ctx.moveTo(x0 + 3, s.y(r.q95)); ctx.lineTo(x1 - 3, s.y(r.q95)); ctx.stroke();
        ctx.fillStyle = rgba(run.styles[m].colour, 0.55);
        ctx.fillRect(x0, s.y(r.q75), x1 - x0, Math.max(1, s.y(r.q25) - s.y(r.q75)));
        ctx.strokeRect(x0, s.y(r.q75), x1 - x0, Math.max(1, s.y(r.q25) - s.y(r.q75)));
        ctx.strokeStyle = '#000'; ctx.beginPath(); ctx.moveTo(x0, s.y(r.q50)); ctx.lineTo(x1, s.y(r.q50)); ctx.stroke();
        ctx.fillStyle = '#fff'; marker(ctx, run.styles[m].marker, xm, s.y(r.mean), 3.5);
      });
    });
  }

  function pairRows(run, a, b, bins, metric) {
    var direct = run.pairs[a + '\u0000' + b], reverse = run.pairs[b + '\u0000' + a];
    if (direct) return direct[bins][metric] || [];
    if (!reverse) return [];
    return (reverse[bins][metric] || []).map(function (r) {
      return { bin: r.bin, center: r.center, n: r.n, mean: -r.mean, ci_low: -r.ci_high, ci_high: -r.ci_low };
    });
  }
  function drawPaired(run, section, state) {
    var canvas = $(section, 'canvas.plot-paired');
    var c = canvasContext(canvas);
    var a = $(section, '.pair-a').value, b = $(section, '.pair-b').value, metric = state.metric;
    var info = metricInfo(run, metric), colour = run.single;
    var va = run.items.values[a][metric], vb = run.items.values[b][metric], diffs = [], ratios = [];
    for (var i = 0; i < va.length; i++) if (va[i] !== null && vb[i] !== null) { diffs.push(va[i] - vb[i]); ratios.push(run.items.ratio[i]); }
    var rows = a === b ? [] : pairRows(run, a, b, state.bins, metric), all = state.points ? diffs.slice() : [];
    rows.forEach(function (r) { all.push(r.ci_low, r.ci_high); });
    all.push(0);
    var s = frame(c, ratioRange(run), extent(all), 'measured hole ratio (%)', metric + ': ' + (run.labels[a] || a) + ' − ' + (run.labels[b] || b));
    var ctx = c.ctx;
    ctx.strokeStyle = '#555'; ctx.beginPath(); ctx.moveTo(s.box.left, s.y(0)); ctx.lineTo(s.box.right, s.y(0)); ctx.stroke();
    if (state.points) {
      var style = pointStyle(diffs.length), half = style.size / 2;
      ctx.fillStyle = rgba(colour, Math.min(0.55, 4 * style.alpha));
      diffs.forEach(function (d, i) { ctx.fillRect(s.x(100 * ratios[i]) - half, s.y(d) - half, style.size, style.size); });
    }
    var single = { colour: colour, marker: 'circle', dash: 'solid' };
    band(ctx, s, rows, single); meanLine(ctx, s, rows, single);
    var better = info.higher ? a : b;
    $(section, '.paired-caption').textContent = a === b ? 'Choose two different methods.' :
      'Per item ' + a + ' − ' + b + ' (' + diffs.length + ' items both scored); above zero: ' + better +
      ' better. Line and band: binned mean difference and its paired bootstrap 95% interval.';
    var table = el('table', { 'class': 'plain' });
    var head = table.createTHead().insertRow();
    ['bin', 'pairs', 'mean ' + a + ' − ' + b, '95% interval', 'better (the interval excludes 0)'].forEach(function (h) { head.appendChild(el('th', {}, h)); });
    var body = table.createTBody();
    rows.forEach(function (r) {
      var tr = body.insertRow(), clear = r.ci_low > 0 || r.ci_high < 0;
      var winner = r.ci_low == null || isNaN(r.ci_low) ? 'undecided (too few pairs for an interval)'
        : !clear ? 'neither (interval spans 0)' : ((r.ci_low > 0) === info.higher ? a : b);
      [r.bin, String(r.n), fmt(r.mean, info.digits), fmt(r.ci_low, info.digits) + ' – ' + fmt(r.ci_high, info.digits), winner]
        .forEach(function (t) { tr.appendChild(el('td', {}, t)); });
    });
    var box = $(section, '.paired-table');
    box.textContent = '';
    if (rows.length) box.appendChild(table);
  }

  function legendBox(run, section) {
    var box = $(section, '.legend-box');
    box.textContent = '';
    run.methods.forEach(function (m) {
      var item = el('span', { 'class': 'key' });
      var swatch = el('canvas', { width: '30', height: '14', 'aria-hidden': 'true' }), ctx = swatch.getContext('2d');
      ctx.lineWidth = 2; ctx.strokeStyle = run.styles[m].colour; ctx.setLineDash(DASHES[run.styles[m].dash] || []);
      ctx.beginPath(); ctx.moveTo(1, 7); ctx.lineTo(29, 7); ctx.stroke();
      ctx.setLineDash([]); ctx.lineWidth = 1; ctx.strokeStyle = '#fff'; ctx.fillStyle = run.styles[m].colour;
      marker(ctx, run.styles[m].marker, 15, 7, 4.5);
      item.appendChild(swatch); item.appendChild(document.createTextNode(run.labels[m] || m));
      box.appendChild(item);
    });
  }

  function startPlots(run, section) {
    var state = {};
    function read() {
      state.metric = $(section, '.plot-metric').value;
      state.bins = $(section, '.plot-bins').value;
      state.points = $(section, '.plot-points').checked;
    }
    function draw() {
      read();
      if (!state.metric) return;
      drawCurve(run, section, state); drawBoxes(run, section, state); drawPaired(run, section, state);
    }
    $$(section, '.plot-controls').forEach(function (c) { c.addEventListener('change', draw); });
    legendBox(run, section);
    draw();
    var wait;
    window.addEventListener('resize', function () { clearTimeout(wait); wait = setTimeout(function () { if (!section.hidden) draw(); }, 150); });
  }

  /* ---------- image browser ---------- */
  function sortKey(run, state) {
    var items = run.items;
    if (state.key === 'order') return function (i) { return i; };
    if (state.key === 'ratio') return function (i) { return items.ratio[i]; };
    if (state.key === 'gap') {
      var va = items.values[state.a][state.metric], vb = items.values[state.b][state.metric];
      return function (i) { return va[i] === null || vb[i] === null ? null : va[i] - vb[i]; };
    }
    var parts = state.key.split('|'), values = items.values[parts[1]][parts[2]];
    return function (i) { return values[i]; };
  }
  function ascending(run, state) {
    // "worst first": low values first where higher is better, for one method's metric and for a gap A − B
    var metric = state.key === 'gap' ? state.metric : state.key.indexOf('m|') === 0 ? state.key.split('|')[2] : null;
    if (metric) return (state.dir === 'worst') === metricInfo(run, metric).higher;
    if (state.key === 'ratio') return state.dir !== 'worst';  // worst first: the largest holes first
    return true;
  }
  function ordered(run, state) {
    var key = sortKey(run, state), up = ascending(run, state), out = [];
    for (var i = 0; i < run.items.id.length; i++) if (!state.bucket || run.items.bucket[i] === state.bucket) out.push(i);
    var keys = out.map(key);
    var order = out.map(function (_, j) { return j; });
    order.sort(function (x, y) {
      var p = keys[x], q = keys[y];
      if (p === null && q === null) return x - y;
      if (p === null) return 1;
      if (q === null) return -1;
      return (up ? p - q : q - p) || x - y;
    });
    return order.map(function (j) { return out[j]; });
  }
  function metricLines(run, method, i) {
    // one line per metric; the best value of the item among the methods in bold
    var failure = run.items.failures[method][i];
    if (failure) return [el('span', { 'class': 'failed' }, 'failed'), el('span', { title: failure }, failure)];
    return run.metrics.map(function (m) {
      var values = run.methods.map(function (other) { return run.items.values[other][m.name][i]; })
        .filter(function (v) { return v !== null; });
      var v = run.items.values[method][m.name][i];
      var best = values.length > 1 && v !== null && v === (m.higher ? Math.max.apply(null, values) : Math.min.apply(null, values));
      return el('span', best ? { 'class': 'best' } : {}, m.name + ' ' + fmt(v, m.digits));
    });
  }
  function itemTitle(run, i) {
    // what a reader recognises: the image, its bucket and measured hole ratio (the item id is the tooltip)
    var ratio = run.items.ratio[i];
    return run.items.image[i] + ' · bucket ' + run.items.bucket[i] + ' · hole ' + (ratio === null ? '?' : (100 * ratio).toFixed(1) + '%');
  }
  function caption(run, node, name, i, withMetrics) {
    node.appendChild(el('b', {}, run.labels[name] || name));
    if (withMetrics) metricLines(run, name, i).forEach(function (line) { node.appendChild(line); });
  }
  function startBrowser(run, section) {
    var controls = $(section, '.browser-controls'), list = $(section, '.browser'), images = run.images;
    if (!list) return;
    var pictures = Boolean(images && images.dir);
    var state = { page: 0 }, order = [];
    // with pictures: input, methods, truth; without: the methods' metrics alone
    var panels = pictures ? images.panels : run.methods, T = pictures ? images.thumb : 150;
    var first = pictures ? 1 : 0, last = pictures ? panels.length - 2 : panels.length - 1;
    function read() {
      state.key = $(controls, '.sort-key').value; state.dir = $(controls, '.sort-dir').value;
      state.metric = $(controls, '.gap-metric').value; state.a = $(controls, '.gap-a').value; state.b = $(controls, '.gap-b').value;
      state.bucket = $(controls, '.browser-bucket').value;
    }
    function gapText(i) {
      var va = run.items.values[state.a][state.metric][i], vb = run.items.values[state.b][state.metric][i];
      return va === null || vb === null ? '' : ' · ' + state.metric + ' ' + state.a + ' − ' + state.b + ' = ' + (va - vb).toFixed(metricInfo(run, state.metric).digits);
    }
    function row(i, rank) {
      var node = el('article', { 'class': 'item', 'data-index': String(i), tabindex: '0' });
      var ratio = run.items.ratio[i];
      node.appendChild(el('div', { 'class': 'item-head', title: 'item ' + run.items.id[i] }, '#' + (rank + 1) + '  ' + itemTitle(run, i) +
        (state.key === 'gap' ? gapText(i) : '')));
      var missing = pictures ? images.missing[String(i)] : null, grey = pictures && images.grey ? images.grey[String(i)] : null;
      if (missing || grey) node.appendChild(el('p', { 'class': 'note' }, missing || grey));
      else if (pictures) {
        var img = el('img', { decoding: 'async', src: images.dir + '/thumb/' + i + '.' + images.ext,
          width: String(T * panels.length), height: String(T), alt: 'panels of ' + itemTitle(run, i), title: 'item ' + run.items.id[i] });
        node.appendChild(img);
      }
      var captions = el('div', { 'class': 'captions', style: 'grid-template-columns: repeat(' + panels.length + ', ' + T + 'px)' });
      panels.forEach(function (p, j) {
        var cap = el('div', {});
        caption(run, cap, p, i, j >= first && j <= last);
        captions.appendChild(cap);
      });
      node.appendChild(captions);
      if (pictures) {
        node.addEventListener('click', function () { openViewer(run, order, order.indexOf(i)); });
        node.addEventListener('keydown', function (e) { if (e.key === 'Enter') openViewer(run, order, order.indexOf(i)); });
      } else node.classList.add('numbers');
      return node;
    }
    function pager() {
      var pages = Math.max(1, Math.ceil(order.length / PAGE));
      $$(section, '.pager').forEach(function (box) {
        box.textContent = '';
        var prev = el('button', { type: 'button' }, '‹ previous'), next = el('button', { type: 'button' }, 'next ›');
        prev.disabled = state.page === 0; next.disabled = state.page >= pages - 1;
        prev.addEventListener('click', function () { state.page--; render(); });
        next.addEventListener('click', function () { state.page++; render(); });
        box.appendChild(prev);
        box.appendChild(el('span', {}, ' page ' + (state.page + 1) + ' of ' + pages + ' '));
        box.appendChild(next);
      });
    }
    function render() {
      list.textContent = '';
      var start = state.page * PAGE, fragment = document.createDocumentFragment();
      order.slice(start, start + PAGE).forEach(function (i, k) { fragment.appendChild(row(i, start + k)); });
      list.appendChild(fragment);
      pager();
      $(controls, '.count').textContent = order.length + ' items';
    }
    controls.addEventListener('change', function (e) {
      read();
      if (e.target.classList.contains('gap-metric') || e.target.classList.contains('gap-a') || e.target.classList.contains('gap-b')) {
        if (state.key !== 'gap') { $(controls, '.sort-key').value = 'gap'; state.key = 'gap'; }
      }
      state.page = 0; order = ordered(run, state); render();
    });
    read(); order = ordered(run, state); render();
  }

  /* ---------- zoom viewer ---------- */
  var viewer = document.getElementById('viewer'), current = null, zoom = 1, focus = [0.5, 0.5];
  function placePanels() {
    if (!current) return;
    $$(viewer, '.panel-picture').forEach(function (node) {
      var j = Number(node.dataset.panel), d = Number(node.dataset.size), n = Number(node.dataset.count);
      node.style.backgroundSize = (n * d * zoom) + 'px ' + (d * zoom) + 'px';
      node.style.backgroundPosition = -(j * d * zoom + focus[0] * d * (zoom - 1)) + 'px ' + -(focus[1] * d * (zoom - 1)) + 'px';
      node.classList.toggle('pixels', zoom > 1);
    });
    $$(viewer, '[data-zoom]').forEach(function (b) { b.setAttribute('aria-pressed', String(Number(b.dataset.zoom) === zoom)); });
  }
  function showItem() {
    var run = current.run, i = current.order[current.position], images = run.images;
    var panels = images.panels, n = panels.length;
    // one row when the panels keep three quarters of their size, else wrapped rows at their own size
    var row = Math.floor((window.innerWidth - 48) / n) - 12;
    var d = row >= 0.75 * images.size ? Math.min(row, 2 * images.size) : Math.min(images.size, window.innerWidth - 60);
    $(viewer, '#viewer-title').textContent = itemTitle(run, i) + '  (' + (current.position + 1) + ' of ' + current.order.length + ')';
    $(viewer, '#viewer-title').title = 'item ' + run.items.id[i];
    var box = $(viewer, '.viewer-panels');
    box.textContent = '';
    var url = images.dir + '/full/' + i + '.' + images.ext;
    panels.forEach(function (p, j) {
      var figure = el('figure', { 'class': 'panel' });
      var picture = el('div', { 'class': 'panel-picture', 'data-panel': String(j), 'data-size': String(d), 'data-count': String(n),
        style: 'width:' + d + 'px;height:' + d + 'px;background-image:url("' + url + '")', role: 'img', 'aria-label': p });
      picture.addEventListener('mousemove', function (e) {
        var r = picture.getBoundingClientRect();
        focus = [Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)), Math.min(1, Math.max(0, (e.clientY - r.top) / r.height))];
        placePanels();
      });
      picture.addEventListener('wheel', function (e) {
        e.preventDefault();
        zoom = Math.min(16, Math.max(1, e.deltaY < 0 ? zoom * 2 : zoom / 2));
        placePanels();
      }, { passive: false });
      figure.appendChild(picture);
      var text = el('figcaption', {});
      caption(run, text, p, i, j > 0 && j < n - 1);
      figure.appendChild(text);
      box.appendChild(figure);
    });
    var note = images.missing[String(i)] || (images.grey || {})[String(i)];
    if (note) box.appendChild(el('p', { 'class': 'note' }, note));
    placePanels();
  }
  function openViewer(run, order, position) {
    current = { run: run, order: order, position: Math.max(0, position) };
    viewer.hidden = false;
    document.body.classList.add('modal');
    showItem();
    $(viewer, '.close').focus();
  }
  function closeViewer() { viewer.hidden = true; document.body.classList.remove('modal'); current = null; }
  function step(by) {
    if (!current) return;
    current.position = Math.min(current.order.length - 1, Math.max(0, current.position + by));
    showItem();
  }
  $(viewer, '.close').addEventListener('click', closeViewer);
  $(viewer, '.prev').addEventListener('click', function () { step(-1); });
  $(viewer, '.next').addEventListener('click', function () { step(1); });
  $$(viewer, '[data-zoom]').forEach(function (b) { b.addEventListener('click', function () { zoom = Number(b.dataset.zoom); placePanels(); }); });
  document.addEventListener('keydown', function (e) {
    if (viewer.hidden) return;
    if (e.key === 'Escape') closeViewer();
    else if (e.key === 'ArrowLeft') step(-1);
    else if (e.key === 'ArrowRight') step(1);
  });

  /* ---------- start ---------- */
  function startRun(key) {
    if (started[key]) return;
    started[key] = true;
    var run = REPORT.runs[key], section = document.getElementById('run-' + key);
    if (!run || !section) return;
    startPlots(run, section);
    startBrowser(run, section);
  }
  var first = $(document, 'section.run');
  if (first) startRun(first.dataset.run);
  document.documentElement.dataset.ready = 'true';
  if (window.performance && performance.mark) performance.mark('report-ready');  // benchmarks read it
})();
