"""The fleet page's stylesheet and script, inlined into one HTML file that loads nothing from anywhere.

The script renders from the JSON document of `_data.py`: embedded in the page (`sidecar policy matrix
--format html`), or fetched from `data.json` beside the page when a running sidecar serves it live, with
the bearer token taken from the URL fragment (`#token=...`, which the browser never sends to a server).
"""

CSS = """
:root { --ok:#2f9e5b; --bg:#fafafa; --fg:#1d1f23; --muted:#6b7280; --line:#d9dce1; --sel:#1f6feb; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg);
  background:var(--bg); }
header { padding:12px 18px 8px; border-bottom:1px solid var(--line); background:#fff; }
header h1 { font-size:18px; margin:0 0 2px; }
header .meta { color:var(--muted); font-size:12px; }
header .meta code { font-size:12px; }
#live { display:none; margin-left:8px; padding:1px 6px; border-radius:8px; background:#e6f4ea; color:#17633a;
  font-size:11px; font-weight:600; }
.bar { display:flex; flex-wrap:wrap; align-items:center; gap:10px 16px; padding:8px 18px;
  border-bottom:1px solid var(--line); background:#fff; }
.tabs { display:flex; gap:4px; }
.tabs button { border:1px solid var(--line); background:#f3f4f6; border-radius:6px; padding:5px 10px;
  cursor:pointer; font:inherit; }
.tabs button[aria-selected=true] { background:var(--sel); border-color:var(--sel); color:#fff; }
.tabs button small { opacity:.8; margin-left:4px; }
.bar label { display:flex; align-items:center; gap:6px; color:var(--muted); }
.bar input[type=search] { width:230px; padding:4px 8px; border:1px solid var(--line); border-radius:6px;
  font:inherit; }
.bar select { font:inherit; padding:3px 4px; border:1px solid var(--line); border-radius:6px; }
.legend { display:flex; flex-wrap:wrap; gap:4px 12px; padding:6px 18px; font-size:12px; color:var(--muted); }
.legend span { display:inline-flex; align-items:center; gap:4px; }
.sw { display:inline-block; width:14px; height:14px; border-radius:3px; color:#fff; font-size:10px;
  line-height:14px; text-align:center; font-weight:700; }
.layout { display:flex; align-items:flex-start; gap:0; }
#gridwrap { flex:1 1 auto; overflow:auto; max-height:calc(100vh - 150px); padding:0 0 12px 0; }
table.grid { border-collapse:separate; border-spacing:0; margin:8px 18px; }
.grid th, .grid td { padding:0; }
.grid thead th { position:sticky; top:0; background:var(--bg); z-index:2; }
.grid thead tr.groups th { top:0; height:22px; font-size:11px; color:var(--muted); font-weight:600;
  border-bottom:1px solid var(--line); cursor:pointer; white-space:nowrap; }
.grid thead tr.names th { top:var(--grouph,0px); vertical-align:bottom; }
.grid thead tr.names th { width:var(--cell,26px); min-width:var(--cell,26px); max-width:var(--cell,26px);
  height:var(--labelh,80px); border-bottom:1px solid var(--line); }
.grid thead .vname { writing-mode:vertical-rl; transform:rotate(180deg); white-space:nowrap; margin:0 auto;
  padding:4px 0; font-weight:500; font-size:12px; height:var(--labelh,80px); overflow:hidden; text-overflow:ellipsis;
  width:var(--cell,26px); line-height:var(--cell,26px); text-align:left; }
.grid thead .gname { overflow:hidden; text-overflow:ellipsis; white-space:nowrap; padding:0 4px; text-align:left; }
.grid th.corner { left:0; z-index:3; text-align:left; vertical-align:bottom; font-size:11px;
  color:var(--muted); font-weight:400; padding:4px 8px; }
.grid tbody th { position:sticky; left:0; background:var(--bg); z-index:1; text-align:right;
  padding:0 8px; font-weight:500; font-size:12px; white-space:nowrap; }
.grid tbody th .grp { color:var(--muted); font-weight:400; margin-right:4px; cursor:pointer; }
.grid td { width:var(--cell,26px); min-width:var(--cell,26px); height:var(--cell,26px); }
.grid td b { display:block; margin:1px; height:calc(100% - 2px); border-radius:4px; color:#fff;
  font-size:calc(var(--cell,26px) * .45); font-weight:700; line-height:calc(var(--cell,26px) - 2px);
  text-align:center; cursor:pointer; position:relative; }
.grid td.self b { box-shadow:inset 0 0 0 2px rgba(0,0,0,.25); }
.grid td.agg b { background-image:repeating-linear-gradient(45deg,rgba(255,255,255,.25) 0 3px,transparent 3px 7px); }
.grid td.dim b { opacity:.12; }
.grid td.sel b { outline:3px solid var(--sel); outline-offset:0; z-index:1; }
.grid td.hot b::after { content:""; position:absolute; right:2px; top:2px; width:6px; height:6px;
  border-radius:50%; background:#fff; box-shadow:0 0 0 1px rgba(0,0,0,.4); }
.grid tr.gstart > * { border-top:2px solid var(--line); }
.grid .gcol { border-left:2px solid var(--line); }
.ok { background:var(--ok); } .mix { background:#b58a12; }
.ok.obs { background-image:repeating-linear-gradient(45deg,rgba(0,0,0,.28) 0 3px,transparent 3px 7px); }
aside { flex:0 0 420px; max-width:45vw; border-left:1px solid var(--line); background:#fff;
  max-height:calc(100vh - 150px); overflow:auto; padding:12px 16px; }
aside h2 { font-size:16px; margin:0 0 4px; }
aside h3 { font-size:13px; margin:16px 0 6px; color:var(--muted); text-transform:uppercase; letter-spacing:.04em; }
#detail .verdict { display:inline-block; margin:6px 0; padding:2px 8px; border-radius:4px; color:#fff;
  font-weight:700; }
#detail dl { margin:6px 0; } #detail dt { font-size:12px; color:var(--muted); margin-top:6px; }
#detail dd { margin:0; word-break:break-word; }
#detail table { border-collapse:collapse; width:100%; font-size:12px; margin-top:4px; table-layout:fixed; }
#detail td:first-child { width:92px; } #detail td:nth-child(2) { width:74px; }
#detail td { border-top:1px solid var(--line); padding:3px 4px; vertical-align:top; }
#detail td.o-pass { color:var(--ok); font-weight:600; } #detail td.o-fail { color:#d64545; font-weight:700; }
#detail td.o-na, #detail td.o-nr { color:var(--muted); }
#detail .src { color:var(--muted); font-family:ui-monospace,monospace; font-size:11px; word-break:break-all; }
#detail td { overflow-wrap:anywhere; }
#detail code, #recent code { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:12px;
  background:#f3f4f6; padding:1px 4px; border-radius:3px; word-break:break-all; }
.hint { color:var(--muted); }
#recent ol { list-style:none; margin:0; padding:0; font-size:12px; }
#recent li { padding:3px 0; border-top:1px solid var(--line); cursor:pointer; }
#recent li:hover { background:#f3f4f6; }
#recent .when { color:var(--muted); margin-right:6px; }
#tokenform { display:none; padding:18px; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var GL = {};
  var OUT = {"pass": ["PASS", "o-pass"], "fail": ["FAIL", "o-fail"], "n/a": ["n/a", "o-na"],
             "not reached": ["not reached", "o-nr"]};
  var D = null, state = {tool: 0, filter: "", group: true, collapsed: {}, mode: "all", sel: null};
  var $ = function (id) { return document.getElementById(id); };
  function esc(s) { return String(s == null ? "" : s).replace(/[&<>"]/g, function (c) {
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; }); }
  // Texts are stored once as templates: U+0001 is the caller's id, U+0002 the target's.
  function str(i, a, b) { return i < 0 ? null : D.strings[i].split("\u0001").join(a).split("\u0002").join(b); }
  function groupOf(a) {
    var m = a.match(/^(.*?)[-_]?\d+$/);
    if (m && m[1]) return m[1];
    var k = a.indexOf("-");
    return k > 0 ? a.slice(0, k) : a;
  }
  function patterns() {
    return state.filter.split(/[\s,]+/).filter(Boolean).map(function (p) {
      var re = p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
      return new RegExp(p.indexOf("*") >= 0 || p.indexOf("?") >= 0 ? "^" + re + "$" : re, "i");
    });
  }
  function axis() {
    var ps = patterns(), out = [], groups = {}, order = [];
    D.agents.forEach(function (a, i) {
      if (ps.length && !ps.some(function (p) { return p.test(a); })) return;
      var g = state.group ? groupOf(a) : "";
      if (!(g in groups)) { groups[g] = []; order.push(g); }
      groups[g].push(i);
    });
    order.forEach(function (g) {
      var members = groups[g];
      if (state.group && state.collapsed[g] && members.length > 1) {
        out.push({group: g, members: members, agg: true, first: true});
      } else {
        members.forEach(function (i, k) {
          out.push({group: g, members: [i], agent: i, first: k === 0, size: members.length});
        });
      }
    });
    return out;
  }
  function cell(t, i, j) { return D.cells[t][i * D.agents.length + j]; }
  function aggregate(t, rows, cols) {
    var ok = 0, all = 0, gates = {};
    rows.forEach(function (i) { cols.forEach(function (j) {
      var c = cell(t, i, j); all++; if (c[0]) ok++; else gates[c[1]] = (gates[c[1]] || 0) + 1; }); });
    var top = -1, most = 0;
    Object.keys(gates).forEach(function (g) { if (gates[g] > most) { most = gates[g]; top = +g; } });
    return {ok: ok, all: all, gate: top};
  }
  var hot = {};
  function indexRecent() {
    hot = {};
    (D.recent || []).forEach(function (r) {
      var t = D.tools.indexOf(r.tool), i = D.agents.indexOf(r.from), j = D.agents.indexOf(r.to);
      if (t >= 0 && i >= 0 && j >= 0) { var k = t + ":" + i + ":" + j; hot[k] = (hot[k] || 0) + 1; }
    });
  }
  function render() {
    var t = state.tool, ax = axis(), n = ax.length, h = [];
    var cellpx = ax.length > 40 ? 16 : ax.length > 20 ? 20 : 28;
    document.documentElement.style.setProperty("--cell", cellpx + "px");
    var longest = ax.reduce(function (m, c) { return Math.max(m, (c.agg ? c.group.length + 4 : D.agents[c.agent].length)); }, 4);
    document.documentElement.style.setProperty("--labelh", Math.min(160, Math.round(longest * 7.2) + 10) + "px");
    h.push("<thead>");
    if (state.group) {
      h.push('<tr class="groups"><th class="corner" rowspan="2">caller \u2193 \u00a0 target \u2192</th>');
      for (var k = 0; k < n; ) {
        var g = ax[k].group, span = 0;
        while (k + span < n && ax[k + span].group === g) span++;
        var size = ax[k].agg ? ax[k].members.length : ax[k].size;
        var mark = size > 1 ? (state.collapsed[g] ? "\u25b8 " : "\u25be ") : "";
        var label = size > 1 ? mark + esc(g) + " (" + size + ")" : "";
        // A fixed-width box: a long group name never widens its columns.
        h.push('<th class="gcol" colspan="' + span + '"' + (size > 1 ? ' data-group="' + esc(g) + '" title="click to ' +
               (state.collapsed[g] ? "expand " : "collapse ") + esc(g) + '"' : "") + '><div class="gname" style="width:' +
               (span * cellpx - 4) + 'px">' + label + "</div></th>");
        k += span;
      }
      h.push("</tr>");
    }
    h.push('<tr class="names">' + (state.group ? "" : '<th class="corner">caller \u2193 \u00a0 target \u2192</th>'));
    ax.forEach(function (c) {
      var label = c.agg ? c.group + " \u00d7" + c.members.length : D.agents[c.agent];
      h.push('<th class="' + (c.first && state.group ? "gcol" : "") + '" title="' + esc(label) + '"><div class="vname">' + esc(label) + "</div></th>");
    });
    h.push("</tr></thead><tbody>");
    var sel = state.sel;
    ax.forEach(function (r, ri) {
      h.push('<tr class="' + (r.first && state.group && ri > 0 ? "gstart" : "") + '">');
      var label = r.agg ? r.group + " \u00d7" + r.members.length : D.agents[r.agent];
      var grp = state.group && r.first && (r.agg || r.size > 1) ? '<span class="grp" data-group="' + esc(r.group) + '">' +
        (state.collapsed[r.group] ? "\u25b8" : "\u25be") + "</span>" : "";
      h.push("<th>" + grp + esc(label) + "</th>");
      ax.forEach(function (c, ci) {
        var cls = [], txt, color, title;
        if (c.first && state.group) cls.push("gcol");
        if (r.agg || c.agg) {
          var a = aggregate(t, r.members, c.members);
          cls.push("agg");
          color = a.ok === a.all ? "ok" : (a.ok === 0 ? "gk" + a.gate : "mix");
          txt = a.ok === a.all ? "\u2713" : (a.ok === 0 ? GL[D.gates[a.gate]] : a.ok);
          title = a.ok + " of " + a.all + " allowed; click to expand";
          if ((state.mode === "denied" && a.ok === a.all) || (state.mode === "allowed" && a.ok === 0)) cls.push("dim");
          h.push('<td class="' + cls.join(" ") + '" data-r="' + ri + '" data-c="' + ci + '"><b class="' + color + '" title="' + esc(title) + '">' + txt + "</b></td>");
          return;
        }
        var i = r.agent, j = c.agent, v = cell(t, i, j);
        if (i === j) cls.push("self");
        if ((state.mode === "denied" && v[0]) || (state.mode === "allowed" && !v[0])) cls.push("dim");
        if (sel && sel[0] === t && sel[1] === i && sel[2] === j) cls.push("sel");
        if (hot[t + ":" + i + ":" + j]) cls.push("hot");
        color = v[6] ? "ok obs" : v[0] ? "ok" : "gk" + v[1];
        txt = v[6] ? "~" + (GL[D.gates[v[1]]] || "x") : v[0] ? "\u2713" : GL[D.gates[v[1]]] || "x";
        title = D.agents[i] + " \u2192 " + D.agents[j] + ": " + (v[6] ? "allowed in observe mode; enforce would deny at " +
          D.gates[v[1]] : v[0] ? "allowed" : "denied at " + D.gates[v[1]]) +
          "\n" + (str(v[2], D.agents[i], D.agents[j]) || "");
        h.push('<td class="' + cls.join(" ") + '" data-i="' + i + '" data-j="' + j + '"><b class="' + color + '" title="' + esc(title) + '">' + txt + "</b></td>");
      });
      h.push("</tr>");
    });
    h.push("</tbody>");
    var grid = $("grid");
    grid.innerHTML = h.join("");
    grid._axis = ax;
    var gh = grid.querySelector("tr.groups");
    grid.style.setProperty("--grouph", gh ? gh.offsetHeight + "px" : "0px");
    $("shown").textContent = ax.length < D.agents.length || ax.some(function (a) { return a.agg; }) ?
      "showing " + ax.reduce(function (s, a) { return s + a.members.length; }, 0) + " of " + D.agents.length + " agents" :
      D.agents.length + " agents";
  }
  function tabs() {
    var h = [];
    D.tools.forEach(function (tool, t) {
      var ok = 0; D.cells[t].forEach(function (c) { ok += c[0]; });
      h.push('<button role="tab" data-t="' + t + '" aria-selected="' + (t === state.tool) + '" title="' + esc(D.targets[t]) + '">' +
             esc(tool) + "<small>" + ok + "/" + D.cells[t].length + "</small></button>");
    });
    $("tabs").innerHTML = h.join("");
  }
  function legend() {
    var h = ['<span><i class="sw ok">\u2713</i>allowed</span>'];
    D.gates.forEach(function (g, k) { h.push('<span><i class="sw gk' + k + '">' + GL[g] + "</i>denied at " + esc(g) + "</span>"); });
    h.push('<span><i class="sw ok obs">~</i>allowed in observe mode, would be denied at the gate shown</span>');
    h.push('<span><i class="sw mix" style="background-image:repeating-linear-gradient(45deg,rgba(255,255,255,.3) 0 3px,transparent 3px 7px)">3</i>collapsed group, mixed: number allowed</span>');
    h.push('<span>\u25cf recent decision</span>');
    $("legend").innerHTML = h.join("");
  }
  function explainCommand(t, i, j) {
    var tool = D.tools[t], a = D.agents[i], b = D.agents[j], p = D.policy;
    if (tool === "sessions_list") return "sidecar policy show --policy " + p + " --agent " + a;
    var target = tool === "sessions_spawn" ? b : "agent:" + b + ":" + D.mainKey;
    return "sidecar explain --policy " + p + " --agent " + a + " " + tool + " " + target;
  }
  function detail(t, i, j) {
    state.sel = [t, i, j];
    var v = cell(t, i, j), tool = D.tools[t], h = [], A = D.agents[i], B = D.agents[j];
    var txt = function (k) { return str(k, A, B); };
    h.push("<h2>" + esc(D.agents[i]) + " \u2192 " + esc(D.agents[j]) + "</h2>");
    h.push('<div class="hint">' + esc(tool) + ": " + esc(D.targets[t]) + "</div>");
    h.push('<div class="verdict ' + (v[6] ? "ok obs" : v[0] ? "ok" : "gk" + v[1]) + '">' + (v[6] ?
      "ALLOWED IN OBSERVE MODE: enforce would DENY it at gate '" + esc(D.gates[v[1]]) + "'" :
      v[0] ? "ALLOWED" : "DENIED at gate '" + esc(D.gates[v[1]]) + "'") + "</div>");
    h.push("<dl>");
    if (txt(v[3])) h.push("<dt>message</dt><dd>" + esc(txt(v[3])) + "</dd>");
    h.push("<dt>decided by</dt><dd><code>" + esc(txt(v[2]) || "(no source)") + "</code></dd>");
    if (txt(v[4])) h.push("<dt>fix</dt><dd>" + esc(txt(v[4])) + "</dd>");
    h.push("</dl>");
    if (v[5] >= 0) {
      h.push("<h3>Every gate, in OpenClaw's order</h3><table>");
      D.checksets[v[5]].forEach(function (c) {
        var o = OUT[c[1]] || [c[1], ""];
        h.push("<tr><td>" + esc(D.gates[c[0]]) + '</td><td class="' + o[1] + '">' + o[0] + "</td><td>" + esc(txt(c[2]) || "") +
          c[3].map(function (s) { return '<div class="src">from ' + esc(txt(s)) + "</div>"; }).join("") + "</td></tr>");
      });
      h.push("</table>");
    }
    h.push("<h3>Reproduce</h3><code>" + esc(explainCommand(t, i, j)) + "</code>");
    var mine = (D.recent || []).filter(function (r) { return r.tool === tool && r.from === D.agents[i] && r.to === D.agents[j]; });
    if (mine.length) {
      h.push("<h3>Recent decisions on this cell</h3><ol>");
      mine.slice(0, 10).forEach(function (r) { h.push("<li>" + esc(r.ts) + " " + esc(r.outcome) + (r.gate ? " (" + esc(r.gate) + ")" : "") + "</li>"); });
      h.push("</ol>");
    }
    $("detail").innerHTML = h.join("");
    // Move the selection mark without redrawing the grid (10,000 cells at a hundred agents).
    var prev = document.querySelector("#grid td.sel");
    if (prev) prev.classList.remove("sel");
    var here = document.querySelector('#grid td[data-i="' + i + '"][data-j="' + j + '"]');
    if (here) here.classList.add("sel");
  }
  function recent() {
    var rs = D.recent || [];
    if (!rs.length) {
      $("recent").innerHTML = '<h3>Recent decisions</h3><p class="hint">' +
        (window.FLEET_LIVE ? "none yet" : "Serve this page from a running sidecar (<code>/fleet/</code> on its HTTP port) to see the decisions it makes, live.") + "</p>";
      return;
    }
    var h = ["<h3>Recent decisions</h3><ol>"];
    rs.slice(0, 100).forEach(function (r, k) {
      h.push('<li data-k="' + k + '"><span class="when">' + esc(r.ts.slice(11)) + "</span>" + esc(r.from) + " \u2192 " + esc(r.target || "-") +
             " <code>" + esc(r.tool) + "</code> " + (r.outcome === "allowed" ? "allowed" : "<b>" + esc(r.outcome) + "</b>" + (r.gate ? " at " + esc(r.gate) : "")) + "</li>");
    });
    $("recent").innerHTML = h.join("") + "</ol>";
  }
  function start(data) {
    D = data;
    // One color class and letter per gate, from the document: gates added later need no page change.
    var css = [];
    D.gates.forEach(function (g, k) { GL[g] = D.gateStyle[k][0]; css.push(".gk" + k + "{background:" + D.gateStyle[k][1] + "}"); });
    var style = document.createElement("style");
    style.textContent = css.join("\n");
    document.head.appendChild(style);
    $("policy").textContent = D.policy;
    $("generated").textContent = D.generated;
    document.title = "Access matrix \u2014 " + D.policy;
    if (D.agents.length > 30) state.collapsed = {};
    indexRecent(); tabs(); legend(); recent(); render();
  }
  document.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest("[data-t],[data-group],td,li[data-k]") : null;
    if (!el) return;
    if (el.dataset.t !== undefined) { state.tool = +el.dataset.t; tabs(); render(); if (state.sel) detail(state.tool, state.sel[1], state.sel[2]); return; }
    if (el.dataset.group !== undefined) { var g = el.dataset.group; state.collapsed[g] = !state.collapsed[g]; render(); return; }
    if (el.dataset.k !== undefined) {
      var r = D.recent[+el.dataset.k], t = D.tools.indexOf(r.tool), i = D.agents.indexOf(r.from), j = D.agents.indexOf(r.to);
      if (t >= 0 && i >= 0 && j >= 0) { state.tool = t; tabs(); render(); detail(t, i, j); }
      return;
    }
    if (el.dataset.i !== undefined) { detail(state.tool, +el.dataset.i, +el.dataset.j); return; }
    if (el.dataset.r !== undefined) {
      var ax = $("grid")._axis, rr = ax[+el.dataset.r], cc = ax[+el.dataset.c];
      [rr, cc].forEach(function (a) { if (a.agg) state.collapsed[a.group] = false; });
      render();
    }
  });
  $("filter").addEventListener("input", function (e) { state.filter = e.target.value; render(); });
  $("group").addEventListener("change", function (e) { state.group = e.target.checked; render(); });
  $("mode").addEventListener("change", function (e) { state.mode = e.target.value; render(); });
  var embedded = $("fleet-data");
  if (embedded && embedded.textContent.trim()) { start(JSON.parse(embedded.textContent)); return; }
  // Live: the page is served without data; data.json needs the sidecar's bearer token.
  window.FLEET_LIVE = true;
  var m = location.hash.match(/token=([^&]+)/);
  if (m) { sessionStorage.setItem("fleet-token", decodeURIComponent(m[1])); history.replaceState(null, "", location.pathname); }
  function get(path) {
    return fetch(path, {headers: {"Authorization": "Bearer " + (sessionStorage.getItem("fleet-token") || "")}, cache: "no-store"})
      .then(function (r) { if (r.status === 401) throw new Error("unauthorized"); return r.json(); });
  }
  function ask() {
    $("tokenform").style.display = "block";
    $("tokenform").onsubmit = function (e) { e.preventDefault(); sessionStorage.setItem("fleet-token", $("token").value.trim()); location.reload(); };
  }
  get("data.json").then(function (data) {
    $("live").style.display = "inline-block";
    start(data);
    setInterval(function () {
      get("decisions.json").then(function (rs) { D.recent = rs; indexRecent(); recent(); render(); }).catch(function () {});
    }, 3000);
  }).catch(ask);
})();
"""

BODY = """
<header>
  <h1>Access matrix<span id="live">live</span></h1>
  <div class="meta">policy <code id="policy"></code> &middot; decided <span id="generated"></span> &middot;
    <span id="shown"></span> &middot; row = calling agent, column = target agent; click a cell for its explanation</div>
</header>
<form id="tokenform"><p>This page is served by a running sidecar. Paste its HTTP bearer token (the
<code>http-token</code> file in its state directory, or <code>$SIDECAR_HTTP_TOKEN</code>):</p>
<input id="token" type="password" size="48" autocomplete="off"> <button>Open</button></form>
<div class="bar">
  <div class="tabs" id="tabs" role="tablist"></div>
  <label>filter <input id="filter" type="search" placeholder="agents, e.g. dev-* lead"></label>
  <label><input id="group" type="checkbox" checked> group by name prefix</label>
  <label>show <select id="mode"><option value="all">all cells</option><option value="denied">denied only</option>
    <option value="allowed">allowed only</option></select></label>
</div>
<div class="legend" id="legend"></div>
<div class="layout">
  <div id="gridwrap"><table class="grid" id="grid"></table></div>
  <aside><div id="detail"><p class="hint">Click a cell to see which gate decided it, the key that did, and the fix.</p></div>
    <div id="recent"></div></aside>
</div>
"""
