(function () {
  const source = document.getElementById("explorer-data");
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const map = document.getElementById("explorer-map");
  const digit = document.getElementById("explorer-digit");
  const readout = document.getElementById("explorer-readout");
  const n = data.size, span = data.span, side = map.width;
  let sprite = null;  // the decoded grid's gray levels, (n * 28) x (n * 28), row 0 at the largest z[j]
  const background = document.createElement("canvas");
  background.width = background.height = side;

  // Latent coordinates <-> canvas pixels: the canvas spans [-span, span] on both axes, z[j] growing upwards.
  const toCanvas = (z) => (z + span) / (2 * span) * side;
  const toLatent = (pixel) => pixel / side * 2 * span - span;

  function drawScatter() {
    const context = background.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, side, side);
    context.strokeStyle = "#ccc";
    context.beginPath();
    context.moveTo(toCanvas(0), 0); context.lineTo(toCanvas(0), side);
    context.moveTo(0, toCanvas(0)); context.lineTo(side, toCanvas(0));
    context.stroke();
    // The span at the ends of the two axes through 0.
    const [i, j] = data.dims;
    context.fillStyle = "#666";
    context.font = "12px sans-serif";
    context.textAlign = "left";
    context.fillText(`z[${i}] = ${-span}`, 4, toCanvas(0) - 5);
    context.fillText(`z[${j}] = ${-span}`, toCanvas(0) + 5, side - 5);
    context.fillText(`z[${j}] = ${span}`, toCanvas(0) + 5, 14);
    context.textAlign = "right";
    context.fillText(`z[${i}] = ${span}`, side - 4, toCanvas(0) - 5);
    context.globalAlpha = 0.6;
    for (let k = 0; k < data.x.length; k++) {
      context.fillStyle = data.colours[data.label[k]];
      context.fillRect(toCanvas(data.x[k]) - 1, side - toCanvas(data.y[k]) - 1, 2, 2);
    }
  }

  // The digit at (x, y): the bilinear blend of the four grid cells around it (cell centres at data.axis).
  function show(x, y) {
    const column = Math.min(Math.max((x + span) / (2 * span) * (n - 1), 0), n - 1);
    const row = Math.min(Math.max((span - y) / (2 * span) * (n - 1), 0), n - 1);
    const c0 = Math.min(Math.floor(column), n - 2), r0 = Math.min(Math.floor(row), n - 2);
    const u = column - c0, v = row - r0;
    const weights = [(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v];
    const cells = [[r0, c0], [r0, c0 + 1], [r0 + 1, c0], [r0 + 1, c0 + 1]];
    const context = digit.getContext("2d");
    const pixels = context.createImageData(28, 28);
    for (let p = 0; p < 28 * 28; p++) {
      const py = Math.floor(p / 28), px = p % 28;
      let value = 0;
      for (let c = 0; c < 4; c++) {
        value += weights[c] * sprite[((cells[c][0] * 28 + py) * n * 28 + cells[c][1] * 28 + px)];
      }
      pixels.data.set([value, value, value, 255], 4 * p);
    }
    context.putImageData(pixels, 0, 0);
    readout.textContent = `z[${data.dims[0]}] = ${x.toFixed(2)}, z[${data.dims[1]}] = ${y.toFixed(2)}`;
    readout.dataset.z = `${x},${y}`;
    const view = map.getContext("2d");
    view.drawImage(background, 0, 0);
    view.strokeStyle = "#000";
    view.beginPath();
    view.arc(toCanvas(x), side - toCanvas(y), 6, 0, 2 * Math.PI);
    view.stroke();
  }

  function point(event) {
    if (!sprite) return;
    // Measured inside the border, where the canvas is drawn (it may be scaled down on a narrow screen).
    const box = map.getBoundingClientRect();
    const px = (event.clientX - box.left - map.clientLeft) / map.clientWidth * side;
    const py = (event.clientY - box.top - map.clientTop) / map.clientHeight * side;
    show(toLatent(px), -toLatent(py));
    event.preventDefault();
  }

  const image = document.getElementById("explorer-sprite");
  image.decode().then(() => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = n * 28;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const rgba = context.getImageData(0, 0, n * 28, n * 28).data;
    sprite = new Uint8ClampedArray(n * 28 * n * 28);
    for (let p = 0; p < sprite.length; p++) sprite[p] = rgba[4 * p];
    drawScatter();
    show(0, 0);
    map.addEventListener("pointermove", point);
    map.addEventListener("pointerdown", point);
    document.body.dataset.explorerReady = "true";
  });
})();
