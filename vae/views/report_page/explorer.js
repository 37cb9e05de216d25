(function () {
  const source = document.getElementById("explorer-data");
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const map = document.getElementById("explorer-map");
  const digitCanvas = document.getElementById("explorer-digit");
  const readout = document.getElementById("explorer-readout");
  const select = document.getElementById("explorer-select");
  const n = data.size, span = data.span, side = map.width;
  const grids = data.conditional ? data.names.length : 1;  // a conditional run's sprite: a grid per class, 0 on top
  const cell = data.cell, channels = data.channels;  // an image's side in pixels, 1 (gray) or 3 (RGB)
  let sprite = null;  // the decoded grids' levels, (grids * n * cell) x (n * cell) x channels, row 0 at the largest z[j]
  let digit = 0;  // the grid shown: the selected class of a conditional run
  let last = [0, 0];
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
    // A conditional run draws the selected class's test points in colour over the others in gray; a run without
    // classes draws them all in one colour.
    const conditional = data.conditional;
    const order = [...data.x.keys()];
    if (conditional) order.sort((a, b) => (data.label[a] === digit) - (data.label[b] === digit));
    for (const k of order) {
      const highlighted = !conditional || data.label[k] === digit;
      context.globalAlpha = highlighted ? 0.6 : 0.25;
      const colour = data.label[k] >= 0 ? data.colours[data.label[k]] : "#1f77b4";
      context.fillStyle = highlighted ? colour : "#bbb";
      context.fillRect(toCanvas(data.x[k]) - 1, side - toCanvas(data.y[k]) - 1, 2, 2);
    }
    context.globalAlpha = 1;
  }

  // The digit at (x, y): the bilinear blend of the four grid cells around it (cell centres at data.axis).
  function show(x, y) {
    const column = Math.min(Math.max((x + span) / (2 * span) * (n - 1), 0), n - 1);
    const row = Math.min(Math.max((span - y) / (2 * span) * (n - 1), 0), n - 1);
    const c0 = Math.min(Math.floor(column), n - 2), r0 = Math.min(Math.floor(row), n - 2);
    const u = column - c0, v = row - r0;
    const weights = [(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v];
    const cells = [[r0, c0], [r0, c0 + 1], [r0 + 1, c0], [r0 + 1, c0 + 1]];
    const context = digitCanvas.getContext("2d");
    const pixels = context.createImageData(cell, cell);
    const top = digit * n;  // the first sprite row of cells of the grid shown
    for (let p = 0; p < cell * cell; p++) {
      const py = Math.floor(p / cell), px = p % cell;
      const value = [0, 0, 0];
      for (let c = 0; c < 4; c++) {
        const at = ((top + cells[c][0]) * cell + py) * n * cell + cells[c][1] * cell + px;
        for (let channel = 0; channel < 3; channel++) {
          value[channel] += weights[c] * sprite[at * channels + (channels === 3 ? channel : 0)];
        }
      }
      pixels.data.set([value[0], value[1], value[2], 255], 4 * p);
    }
    context.putImageData(pixels, 0, 0);
    const drawn = data.conditional ? `${data.names[digit]}: ` : "";
    readout.textContent = `${drawn}z[${data.dims[0]}] = ${x.toFixed(2)}, z[${data.dims[1]}] = ${y.toFixed(2)}`;
    readout.dataset.z = `${x},${y}`;
    readout.dataset.digit = data.conditional ? String(digit) : "";
    last = [x, y];
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
    canvas.width = n * cell;
    canvas.height = grids * n * cell;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
    sprite = new Uint8ClampedArray(canvas.width * canvas.height * channels);
    for (let p = 0; p < canvas.width * canvas.height; p++) {
      for (let channel = 0; channel < channels; channel++) sprite[p * channels + channel] = rgba[4 * p + channel];
    }
    drawScatter();
    show(0, 0);
    map.addEventListener("pointermove", point);
    map.addEventListener("pointerdown", point);
    if (select) {
      select.addEventListener("change", () => {
        digit = Number(select.value);
        drawScatter();
        show(...last);
      });
    }
    document.body.dataset.explorerReady = "true";
  });
})();
