// The page of `multipose serve`: uploads photos (one request each) or a video to the API and
// draws the answers' people on a canvas. Toggles and the threshold redraw without a request.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const context = canvas.getContext("2d");
const items = [];  // {file, li, answer, error, bitmap} per photo, in upload order
let current = null;

async function loadModels() {
  const response = await fetch("/v1/models");
  const { default: chosen, models } = await response.json();
  for (const model of models) {
    const option = new Option(`${model.name} (${model.method})`, model.name, false, model.name === chosen);
    $("model").add(option);
  }
}

function say(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

// The server's one-line error, which names the file (else prefixed with `name`).
async function errorOf(response, name) {
  let error = `${response.status} ${response.statusText}`;
  try {
    error = (await response.json()).error || error;
  } catch {}
  return error.startsWith(`${name}: `) ? error : `${name}: ${error}`;
}

function post(path, field, file) {
  const body = new FormData();
  body.append(field, file, file.name);
  const query = new URLSearchParams({ model: $("model").value });
  return fetch(`${path}?${query}`, { method: "POST", body });
}

async function handle(files) {
  files = Array.from(files);
  const video = files.find((file) => file.type.startsWith("video/"));
  if (video) return estimateVideo(video);
  $("video").hidden = true;
  canvas.hidden = false;
  items.length = 0;
  current = null;
  $("queue").replaceChildren();
  document.body.dataset.state = "busy";
  for (const file of files) {
    const li = document.createElement("li");
    li.textContent = file.name;
    $("queue").append(li);
    const item = { file, li };
    li.onclick = () => show(item);
    items.push(item);
  }
  for (const item of items) {
    if (!current) say(`Estimating ${item.file.name}…`);
    item.li.classList.add("busy");
    const response = await post("/v1/poses", "image", item.file);
    item.li.classList.remove("busy");
    if (response.ok) {
      item.answer = await response.json();
      item.bitmap = await createImageBitmap(item.file);
    } else {
      item.error = await errorOf(response, item.file.name);
      item.li.classList.add("failed");
    }
    if (!current || current.error) show(item);
  }
  document.body.dataset.state = "done";
}

function show(item) {
  current = item;
  for (const other of items) other.li.classList.toggle("current", other === item);
  const ok = Boolean(item.answer);
  for (const id of ["download-openpose", "download-coco", "download-png"]) $(id).disabled = !ok;
  if (!ok) {
    say(item.error, true);
    canvas.width = canvas.height = 0;
    table([]);
    return;
  }
  const { people, timings } = item.answer;
  say(`${item.file.name}: ${people.length} people, ${Math.round(timings.total_ms)} ms`);
  draw();
}

function visible(person, threshold) {
  return person.score >= threshold;
}

function draw() {
  if (!current || !current.answer) return;
  const { people, skeleton } = current.answer;
  const threshold = Number($("threshold").value);
  const bitmap = current.bitmap;
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  context.drawImage(bitmap, 0, 0);
  const width = Math.max(2, Math.round(Math.min(canvas.width, canvas.height) / 250));
  const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;
  context.lineWidth = width;
  context.font = `${10 + 2 * width}px system-ui, sans-serif`;
  people.forEach((person, n) => {
    if (!visible(person, threshold)) return;
    const kp = person.keypoints;
    const shown = kp.map((p) => p[2] > threshold);
    skeleton.limbs.forEach(([a, b], i) => {
      if (!shown[a] || !shown[b]) return;
      context.strokeStyle = rgb(skeleton.limb_colors[i]);
      context.beginPath();
      context.moveTo(kp[a][0], kp[a][1]);
      context.lineTo(kp[b][0], kp[b][1]);
      context.stroke();
    });
    kp.forEach((p, j) => {
      if (!shown[j]) return;
      context.fillStyle = rgb(skeleton.keypoint_colors[j]);
      context.beginPath();
      context.arc(p[0], p[1], width + 1, 0, 2 * Math.PI);
      context.fill();
      if ($("show-labels").checked) label(skeleton.keypoints[j], p[0] + width + 2, p[1]);
    });
    const [x0, y0, x1, y1] = person.box;
    if ($("show-boxes").checked) {
      context.strokeStyle = "#ffd400";
      context.strokeRect(x0, y0, x1 - x0, y1 - y0);
    }
    if ($("show-ids").checked) {
      label(`${person.id >= 0 ? person.id : n}: ${person.score.toFixed(2)}`, x0 + 2, Math.max(y0 - 6, 12));
    }
  });
  table(people, threshold);
  document.body.dataset.drawn = String(Date.now());
}

function label(text, x, y) {
  context.lineWidth = 3;
  context.strokeStyle = "black";
  context.strokeText(text, x, y);
  context.fillStyle = "white";
  context.fillText(text, x, y);
  context.lineWidth = Math.max(2, Math.round(Math.min(canvas.width, canvas.height) / 250));
}

function table(people, threshold = 0) {
  const rows = people.map((person, n) => {
    const row = document.createElement("tr");
    row.classList.toggle("hidden", !visible(person, threshold));
    const found = person.keypoints.filter((p) => p[2] > threshold).length;
    const box = person.box.map((v) => Math.round(v)).join(", ");
    for (const cell of [n, person.id, person.score.toFixed(3), found, box]) {
      row.insertCell().textContent = cell;
    }
    return row;
  });
  $("people").tBodies[0].replaceChildren(...rows);
}

async function estimateVideo(file) {
  items.length = 0;
  current = null;
  $("queue").replaceChildren();
  for (const id of ["download-openpose", "download-coco", "download-png"]) $(id).disabled = true;
  document.body.dataset.state = "busy";
  say(`Estimating every frame of ${file.name}… (a few seconds per second of video)`);
  const response = await post("/v1/poses/video", "video", file);
  if (!response.ok) {
    say(await errorOf(response, file.name), true);
  } else {
    const answer = await response.json();
    canvas.hidden = true;
    $("video").hidden = false;
    $("video").src = answer.overlay;
    say(`${file.name}: ${answer.video.frames} frames, ${tracks(answer).length} people tracked`);
    trackTable(answer);
  }
  document.body.dataset.state = "done";
}

function tracks(answer) {
  const byId = new Map();
  for (const frame of answer.frames) {
    for (const person of frame.people) {
      const track = byId.get(person.id) || { id: person.id, frames: 0, score: 0, box: person.box };
      track.frames += 1;
      track.score += person.score;
      byId.set(person.id, track);
    }
  }
  return [...byId.values()];
}

function trackTable(answer) {
  const rows = tracks(answer).map((track, n) => {
    const row = document.createElement("tr");
    const box = track.box.map((v) => Math.round(v)).join(", ");
    const cells = [n, track.id, (track.score / track.frames).toFixed(3), `${track.frames} frames`, box];
    for (const cell of cells) row.insertCell().textContent = cell;
    return row;
  });
  $("people").tBodies[0].replaceChildren(...rows);
}

// Webcam mode: one frame after another is sent as a JPEG and drawn with its people.
let camera = null;

async function webcam() {
  if (camera) {
    camera.getTracks().forEach((track) => track.stop());
    camera = null;
    $("webcam").textContent = "Start the webcam";
    return;
  }
  try {
    camera = await navigator.mediaDevices.getUserMedia({ video: true });
  } catch (error) {
    say(`webcam: ${error.message}`, true);
    return;
  }
  $("webcam").textContent = "Stop the webcam";
  const video = document.createElement("video");
  video.srcObject = camera;
  video.muted = true;
  await video.play();
  items.length = 0;
  $("queue").replaceChildren();
  $("video").hidden = true;
  canvas.hidden = false;
  let frames = 0;
  while (camera) {
    const bitmap = await createImageBitmap(video);
    const still = new OffscreenCanvas(bitmap.width, bitmap.height);
    still.getContext("2d").drawImage(bitmap, 0, 0);
    const file = new File([await still.convertToBlob({ type: "image/jpeg" })], "webcam.jpg");
    const response = await post("/v1/poses", "image", file);
    if (!camera) break;
    if (!response.ok) {
      say(await errorOf(response, "webcam"), true);
      break;
    }
    current = { file, bitmap, answer: await response.json(), li: document.createElement("li") };
    show(current);
    document.body.dataset.webcamFrames = String(++frames);
  }
  if (camera) webcam();  // stopped by an error: let the camera go
}

function download(name, blob) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

const stem = (item) => item.file.name.replace(/\.[^.]*$/, "");
const json = (data) => new Blob([JSON.stringify(data)], { type: "application/json" });

$("download-openpose").onclick = () => download(`${stem(current)}_keypoints.json`, json(current.answer.openpose));
$("download-coco").onclick = () =>
  download("coco_results.json", json(items.filter((item) => item.answer).flatMap((item) => item.answer.coco)));
$("download-png").onclick = () => canvas.toBlob((blob) => download(`${stem(current)}_rendered.png`, blob));

for (const id of ["show-boxes", "show-ids", "show-labels"]) $(id).onchange = draw;
$("threshold").oninput = () => {
  $("threshold-value").textContent = Number($("threshold").value).toFixed(2);
  draw();
};
$("files").onchange = (event) => handle(event.target.files);
$("webcam").onclick = webcam;
const drop = $("drop");
drop.ondragover = (event) => {
  event.preventDefault();
  drop.classList.add("over");
};
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  handle(event.dataTransfer.files);
};
loadModels();
