// Signature drawn on screen: pointer strokes on a canvas, sent as a PNG data URL.
// Progressive enhancement: without JavaScript the canvas stays hidden and the page
// says to choose a signature on paper or a confirmation on the person's phone.
(function () {
  "use strict";
  var canvas = document.getElementById("signature-pad");
  var field = document.getElementById("signature-data");
  var clear = document.getElementById("signature-clear");
  var nojs = document.getElementById("signature-nojs");
  if (!canvas || !field || !canvas.getContext) { return; }
  canvas.hidden = false;
  if (clear) { clear.hidden = false; }
  if (nojs) { nojs.hidden = true; }
  var context = canvas.getContext("2d");
  context.lineWidth = 2.5;
  context.lineCap = "round";
  context.lineJoin = "round";
  context.strokeStyle = "#000";
  var drawing = false;
  var drawn = false;

  function point(event) {
    var box = canvas.getBoundingClientRect();
    return {
      x: (event.clientX - box.left) * (canvas.width / box.width),
      y: (event.clientY - box.top) * (canvas.height / box.height)
    };
  }
  canvas.addEventListener("pointerdown", function (event) {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    var p = point(event);
    context.beginPath();
    context.moveTo(p.x, p.y);
    event.preventDefault();
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!drawing) { return; }
    var p = point(event);
    context.lineTo(p.x, p.y);
    context.stroke();
    drawn = true;
  });
  function finish() {
    if (!drawing) { return; }
    drawing = false;
    if (drawn) { field.value = canvas.toDataURL("image/png"); }
  }
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  if (clear) {
    clear.addEventListener("click", function () {
      context.clearRect(0, 0, canvas.width, canvas.height);
      field.value = "";
      drawn = false;
    });
  }
})();
