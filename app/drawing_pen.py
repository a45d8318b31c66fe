"""The pen both drawing pads share (the own-task page's canvas and the Classroom's phone pad): black round
strokes on a white square canvas, by mouse, pen or finger. ``PEN_JS`` is JavaScript placed before each pad's
component module; it defines ``attachPen(canvas, width, onStart)``, which paints the canvas white the first
time (a rerun keeps what is drawn), wires the pointer events, and returns ``blank``, which clears the canvas.
``canvas.dataset.empty`` is "1" while nothing is drawn; ``onStart`` runs when a stroke begins."""

PEN_JS = """
function attachPen(canvas, width, onStart) {
  const ctx = canvas.getContext("2d");
  const SIZE = canvas.width;
  const blank = () => {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, SIZE, SIZE);
    canvas.dataset.empty = "1";
  };
  if (!canvas.dataset.ready) { blank(); canvas.dataset.ready = "1"; }
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [((e.clientX - r.left) * SIZE) / r.width, ((e.clientY - r.top) * SIZE) / r.height];
  };
  let last = null;
  canvas.onpointerdown = (e) => {
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    last = at(e);
    ctx.fillStyle = "#000000";
    ctx.beginPath();
    ctx.arc(last[0], last[1], width / 2, 0, 2 * Math.PI);
    ctx.fill();
    canvas.dataset.empty = "";
    onStart();
  };
  canvas.onpointermove = (e) => {
    if (!last) return;
    const p = at(e);
    Object.assign(ctx, { strokeStyle: "#000000", lineWidth: width, lineCap: "round", lineJoin: "round" });
    ctx.beginPath();
    ctx.moveTo(last[0], last[1]);
    ctx.lineTo(p[0], p[1]);
    ctx.stroke();
    last = p;
  };
  canvas.onpointerup = canvas.onpointercancel = () => { last = null; };
  return blank;
}
"""
