// Live refresh (polls the server) and zoomable previews; no build step, no dependencies.
"use strict";

function refreshRuns(body) {
  fetch(body.dataset.live, {credentials: "same-origin"})
    .then(r => r.ok ? r.text() : Promise.reject(r.status))
    .then(html => { body.innerHTML = html; })
    .catch(() => {})
    .finally(() => setTimeout(() => refreshRuns(body), +body.dataset.refresh || 3000));
}

function followRun(badge) {
  if (badge.dataset.final === "yes") return;
  fetch(badge.dataset.live, {credentials: "same-origin"})
    .then(r => r.ok ? r.json() : Promise.reject(r.status))
    .then(run => {
      // a new state or the end: reload to show its times, previews and log
      if (run.status !== badge.textContent.trim() || run.step !== badge.dataset.step) {
        location.reload();
        return;
      }
      setTimeout(() => followRun(badge), +badge.dataset.refresh || 3000);
    })
    .catch(() => setTimeout(() => followRun(badge), 10000));
}

function zoom(src) {
  const layer = document.createElement("div");
  layer.id = "zoom";
  const img = new Image();
  img.src = src;
  layer.appendChild(img);
  const hint = document.createElement("div");
  hint.className = "hint";
  hint.textContent = "wheel: zoom · drag: move · Esc or double-click: close";
  layer.appendChild(hint);
  document.body.appendChild(layer);
  let scale = 1, x = 0, y = 0, drag = null;
  const place = () => { img.style.transform = `translate(${x}px, ${y}px) scale(${scale})`; };
  img.onload = () => {
    scale = Math.min(layer.clientWidth / img.naturalWidth, layer.clientHeight / img.naturalHeight, 8);
    x = (layer.clientWidth - img.naturalWidth * scale) / 2;
    y = (layer.clientHeight - img.naturalHeight * scale) / 2;
    place();
  };
  layer.addEventListener("wheel", e => {
    e.preventDefault();
    const k = e.deltaY < 0 ? 1.25 : 0.8;
    x = e.clientX - (e.clientX - x) * k; y = e.clientY - (e.clientY - y) * k; scale *= k;
    place();
  }, {passive: false});
  layer.addEventListener("mousedown", e => { drag = [e.clientX - x, e.clientY - y]; e.preventDefault(); });
  layer.addEventListener("mousemove", e => { if (drag) { x = e.clientX - drag[0]; y = e.clientY - drag[1]; place(); } });
  layer.addEventListener("mouseup", () => { drag = null; });
  const close = () => { layer.remove(); document.removeEventListener("keydown", onKey); };
  const onKey = e => { if (e.key === "Escape") close(); };
  layer.addEventListener("dblclick", close);
  document.addEventListener("keydown", onKey);
}

document.addEventListener("DOMContentLoaded", () => {
  const rows = document.getElementById("run-rows");
  if (rows) setTimeout(() => refreshRuns(rows), +rows.dataset.refresh || 3000);
  const badge = document.getElementById("run-status");
  if (badge) followRun(badge);
  document.body.addEventListener("click", e => {
    if (e.target.classList && e.target.classList.contains("zoomable")) zoom(e.target.src);
  });
});
