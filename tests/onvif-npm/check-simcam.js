#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-or-later
// A third-party ONVIF client, the npm `onvif` package's Cam class, checks
// vigil's simulated ONVIF camera (vigil-simcam --onvif-port ... --ptz): that
// it connects the way it does to real cameras (GetSystemDateAndTime,
// GetServices or GetCapabilities, GetProfiles, GetVideoSources), that the
// device information, profiles, stream and snapshot URIs read back right,
// that the PTZ head moves where the client asks, that presets round-trip, and
// that a wrong password is refused. It prints one line per step and exits 0
// only when every step passed; a failure names its step. It talks only to
// the host given (127.0.0.1 in the tests), and every wait is bounded: each
// request by the client's timeout, polling by a deadline, and the whole run
// by OVERALL_TIMEOUT_MS.
//
// Usage: node check-simcam.js --port P --rtsp-port R [--host H] [--user U]
//                             [--password-file F]
// The same from the environment: ONVIF_HOST, ONVIF_PORT, ONVIF_USER,
// ONVIF_PASSWORD (or ONVIF_PASSWORD_FILE), RTSP_PORT.

'use strict';

const fs = require('fs');
const path = require('path');

const OVERALL_TIMEOUT_MS = 60000;
const REQUEST_TIMEOUT_MS = 10000;
const MOVE_TIMEOUT_MS = 10000;
const POLL_MS = 100;
const CLOSE = 0.02;   // positions within this count as arrived

let step = 'start';

function fail(message) {
  console.log(`FAIL ${step}: ${message}`);
  process.exit(1);
}

function pass(detail) {
  console.log(`ok   ${step}${detail ? ': ' + detail : ''}`);
}

function parseArgs(argv) {
  const options = {
    host: process.env.ONVIF_HOST || '127.0.0.1',
    port: process.env.ONVIF_PORT,
    user: process.env.ONVIF_USER,
    password: process.env.ONVIF_PASSWORD,
    passwordFile: process.env.ONVIF_PASSWORD_FILE,
    rtspPort: process.env.RTSP_PORT,
  };
  const names = {
    '--host': 'host', '--port': 'port', '--user': 'user',
    '--password-file': 'passwordFile', '--rtsp-port': 'rtspPort',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const name = names[argv[i]];
    if (name === undefined || argv[i + 1] === undefined) {
      fail(`unknown or incomplete argument '${argv[i]}'; usage: check-simcam.js --port P ` +
           '--rtsp-port R [--host H] [--user U] [--password-file F]');
    }
    options[name] = argv[i + 1];
  }
  if (options.passwordFile) {
    // The first line, as vigil-simcam reads it.
    options.password = fs.readFileSync(options.passwordFile, 'utf8').split(/\r?\n/)[0];
  }
  options.port = Number(options.port);
  options.rtspPort = Number(options.rtspPort);
  if (!Number.isInteger(options.port) || !Number.isInteger(options.rtspPort)) {
    fail('--port and --rtsp-port (or ONVIF_PORT and RTSP_PORT) must be port numbers');
  }
  return options;
}

function loadCam() {
  try {
    return require(path.join(__dirname, 'node_modules', 'onvif')).Cam;
  } catch (e) {
    fail(`cannot load the npm onvif module from ${__dirname}/node_modules ` +
         `(run npm ci --prefix ${__dirname}): ${e.message}`);
  }
}

// A Cam method with a Node-style callback, as a promise. Its second argument
// is what the method hands back (parsed body, or the library's own object).
function call(cam, method, ...args) {
  return new Promise((resolve, reject) => {
    cam[method](...args, (err, data) => (err ? reject(err) : resolve(data)));
  });
}

function connect(Cam, options, password, warnings) {
  const cam = new Cam({
    hostname: options.host,
    port: options.port,
    username: options.user,
    password: password,
    timeout: REQUEST_TIMEOUT_MS,
    autoconnect: false,
  });
  cam.on('warning', (warning) => warnings.push(String(warning)));
  return new Promise((resolve, reject) => {
    cam.connect((err) => (err ? reject(err) : resolve(cam)));
  });
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function near(a, b) {
  return Math.abs(a - b) <= CLOSE;
}

function fmt(position) {
  return `pan ${position.x.toFixed(3)} tilt ${position.y.toFixed(3)} zoom ${position.zoom.toFixed(3)}`;
}

async function status(cam, profileToken) {
  const s = await call(cam, 'getStatus', { profileToken });
  for (const axis of ['x', 'y', 'zoom']) {
    if (typeof s.position[axis] !== 'number') {
      fail(`GetStatus gave no number for ${axis}: ${JSON.stringify(s)}`);
    }
  }
  return s;
}

function idle(s) {
  const m = s.moveStatus || {};
  return m.panTilt !== 'MOVING' && m.zoom !== 'MOVING';
}

// Polls GetStatus until the head is idle at @target, within MOVE_TIMEOUT_MS.
async function waitForPosition(cam, profileToken, target) {
  const deadline = Date.now() + MOVE_TIMEOUT_MS;
  let s;
  for (;;) {
    s = await status(cam, profileToken);
    if (idle(s) && near(s.position.x, target.x) && near(s.position.y, target.y) &&
        near(s.position.zoom, target.zoom)) {
      return s;
    }
    if (Date.now() > deadline) {
      fail(`the head did not come to rest at ${fmt(target)} within ${MOVE_TIMEOUT_MS} ms; ` +
           `it is at ${fmt(s.position)}, move status ${JSON.stringify(s.moveStatus)}`);
    }
    await delay(POLL_MS);
  }
}

function checkUri(what, text, protocol, port) {
  let uri;
  try {
    uri = new URL(text);
  } catch (e) {
    fail(`${what} '${text}' is not a URL`);
  }
  if (uri.protocol !== protocol) {
    fail(`${what} '${text}' is not ${protocol}//`);
  }
  if (uri.hostname !== '127.0.0.1') {
    fail(`${what} '${text}' is not on 127.0.0.1`);
  }
  if (port !== undefined && Number(uri.port) !== port) {
    fail(`${what} '${text}' is not on port ${port}`);
  }
  return uri;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const Cam = loadCam();
  const warnings = [];

  step = 'connect';
  let cam;
  try {
    cam = await connect(Cam, options, options.password, warnings);
  } catch (e) {
    fail(e.message);
  }
  if (warnings.length > 0) {
    fail(`the client warned: ${warnings.join('; ')}`);
  }
  pass(`services ${Object.keys(cam.uri || {}).sort().join(' ')}`);

  step = 'device information';
  const info = await call(cam, 'getDeviceInformation');
  if (!info || !info.manufacturer || !info.model || info.serialNumber === undefined) {
    fail(`incomplete: ${JSON.stringify(info)}`);
  }
  pass(`${info.manufacturer} ${info.model} serial ${info.serialNumber} firmware ${info.firmwareVersion}`);

  step = 'profiles';
  if (!Array.isArray(cam.profiles) || cam.profiles.length === 0) {
    fail(`the client kept no profiles: ${JSON.stringify(cam.profiles)}`);
  }
  const described = cam.profiles.map((p) => {
    const vec = p.videoEncoderConfiguration || {};
    const res = vec.resolution || {};
    return `${p.$.token} (${p.name}, ${vec.encoding} ${res.width}x${res.height})`;
  });
  if (!cam.activeSource || !cam.activeSource.profileToken) {
    fail(`the client paired no profile with a video source: ${described.join(', ')}`);
  }
  const main = cam.activeSource.profileToken;
  if (!cam.activeSource.ptz) {
    fail(`the main profile ${main} has no PTZ configuration`);
  }
  pass(`${described.join(', ')}; main ${main} on ${cam.activeSource.sourceToken}`);

  step = 'stream URI';
  const stream = await call(cam, 'getStreamUri', { protocol: 'RTSP', profileToken: main });
  checkUri('the stream URI', stream && stream.uri, 'rtsp:', options.rtspPort);
  pass(stream.uri);

  step = 'snapshot URI';
  const snapshot = await call(cam, 'getSnapshotUri', { profileToken: main });
  checkUri('the snapshot URI', snapshot && snapshot.uri, 'http:', options.port);
  pass(snapshot.uri);

  step = 'PTZ nodes';
  const nodes = await call(cam, 'getNodes');
  const nodeTokens = Object.keys(nodes || {});
  if (nodeTokens.length === 0) {
    fail('no PTZ node');
  }
  pass(nodeTokens.join(' '));

  step = 'continuous move and stop';
  const before = (await status(cam, main)).position;
  await call(cam, 'continuousMove', { profileToken: main, x: 0.5, y: 0, zoom: 0 });
  await delay(500);
  await call(cam, 'stop', { profileToken: main, panTilt: true, zoom: true });
  const stopped = await status(cam, main);
  if (!(stopped.position.x > before.x + CLOSE)) {
    fail(`panning right did not raise pan: from ${fmt(before)} to ${fmt(stopped.position)}`);
  }
  if (!near(stopped.position.y, before.y) || !near(stopped.position.zoom, before.zoom)) {
    fail(`a pan moved other axes: from ${fmt(before)} to ${fmt(stopped.position)}`);
  }
  await delay(300);
  const later = await status(cam, main);
  if (later.position.x !== stopped.position.x) {
    fail(`the head kept moving after Stop: ${fmt(stopped.position)} then ${fmt(later.position)}`);
  }
  pass(`${fmt(before)} -> ${fmt(stopped.position)}, still after Stop`);

  step = 'absolute move and status';
  const target = { x: -0.5, y: 0.3, zoom: 0.2 };
  const start = (await status(cam, main)).position;
  await call(cam, 'absoluteMove', { profileToken: main, ...target });
  await delay(POLL_MS);
  const moving = (await status(cam, main)).position;
  // Part way: every axis on its way from start towards the target.
  for (const axis of ['x', 'y', 'zoom']) {
    const wanted = Math.sign(target[axis] - start[axis]);
    const went = Math.sign(moving[axis] - start[axis]);
    if (wanted !== 0 && went !== 0 && went !== wanted) {
      fail(`${axis} moved away from ${target[axis]}: ${fmt(start)} -> ${fmt(moving)}`);
    }
  }
  const arrived = await waitForPosition(cam, main, target);
  pass(`${fmt(start)} -> ${fmt(arrived.position)}, move status ${JSON.stringify(arrived.moveStatus)}`);

  step = 'set preset';
  const presetName = 'npm-check';
  const setReply = await call(cam, 'setPreset', { profileToken: main, presetName });
  let token;
  try {
    token = setReply[0].setPresetResponse[0].presetToken[0];
  } catch (e) {
    fail(`no PresetToken in the SetPreset answer: ${JSON.stringify(setReply)}`);
  }
  pass(`${presetName} is ${token}`);

  step = 'get presets';
  let presets = await call(cam, 'getPresets', { profileToken: main });
  const preset = presets[presetName];
  if (!preset || preset.$.token !== token) {
    fail(`${presetName} (${token}) is not listed: ${JSON.stringify(presets)}`);
  }
  const saved = preset.PTZPosition;
  if (!saved || !saved.panTilt || !near(saved.panTilt.$.x, target.x) ||
      !near(saved.panTilt.$.y, target.y) || !near(saved.zoom.$.x, target.zoom)) {
    fail(`${presetName} is not at ${fmt(target)}: ${JSON.stringify(saved)}`);
  }
  pass(`${Object.keys(presets).length} preset(s), ${presetName} at the saved position`);

  step = 'goto preset';
  const away = { x: 0.4, y: -0.4, zoom: 0.6 };
  await call(cam, 'absoluteMove', { profileToken: main, ...away });
  await waitForPosition(cam, main, away);
  await call(cam, 'gotoPreset', { profileToken: main, preset: token });
  const back = await waitForPosition(cam, main, target);
  pass(`${fmt(away)} -> ${fmt(back.position)}`);

  step = 'remove preset';
  await call(cam, 'removePreset', { profileToken: main, presetToken: token });
  presets = await call(cam, 'getPresets', { profileToken: main });
  if (presets[presetName]) {
    fail(`${presetName} is still listed after RemovePreset`);
  }
  pass(`${token} gone`);

  step = 'wrong password';
  const wrongWarnings = [];
  let refusal = null;
  try {
    const intruder = await connect(Cam, options, `not-${options.password}`, wrongWarnings);
    // Connected regardless (a client may get this far on unauthenticated
    // calls): then an authenticated call must fail.
    await call(intruder, 'getDeviceInformation');
  } catch (e) {
    refusal = e;
  }
  if (refusal === null) {
    fail('a wrong password was accepted');
  }
  if (!/not ?authori[sz]ed|unauthori[sz]ed|401|authentication failed/i.test(refusal.message)) {
    fail(`refused, but not as an authentication error: ${refusal.message}`);
  }
  pass(refusal.message);
}

const overall = setTimeout(() => {
  console.log(`FAIL ${step}: no result within the overall ${OVERALL_TIMEOUT_MS} ms`);
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

main().then(() => {
  clearTimeout(overall);
  console.log('all steps passed');
  process.exit(0);
}, (e) => {
  fail(e && e.message ? e.message : String(e));
});
