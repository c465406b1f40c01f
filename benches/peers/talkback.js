// Starts talkback (https://github.com/ijpiantanida/talkback) the way its
// README shows, for datovcr's peer rows (benches/datovcr/peers.rs):
//
//   node talkback.js MODULE_DIR MODE UPSTREAM TAPES_DIR
//
// MODE is `replay` (record DISABLED: serve tapes, 404 on a miss) or
// `record` (record OVERWRITE: forward every request to UPSTREAM and write
// its tape, as a recording proxy does) or `record-new` (record what no tape
// matches: used to prepare the replay tapes). It listens on 127.0.0.1, on a
// port the system picks, and prints `listening on http://127.0.0.1:PORT`
// first, as datovcr does. SIGTERM stops it (talkback's own handler).
"use strict";
const http = require("http");

const [moduleDir, mode, upstream, tapes] = process.argv.slice(2);
if (!moduleDir || !mode || !upstream || !tapes) {
  console.error("usage: node talkback.js MODULE_DIR replay|record|record-new UPSTREAM TAPES_DIR");
  process.exit(2);
}
const talkback = require(moduleDir);
const record = {
  replay: talkback.Options.RecordMode.DISABLED,
  record: talkback.Options.RecordMode.OVERWRITE,
  "record-new": talkback.Options.RecordMode.NEW,
}[mode];
if (record === undefined) {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}

// talkback calls `server.listen(port, callback)`, which binds every
// interface; the bench keeps all traffic on loopback, so its listen call
// gets the host added.
const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (port, callback) {
  return listen.call(this, port, "127.0.0.1", callback);
};

const server = talkback({
  host: upstream,
  port: 0,
  path: tapes,
  record,
  fallbackMode: talkback.Options.FallbackMode.NOT_FOUND,
  silent: true,
  summary: false,
});
server.start(() => {
  const { port } = server.server.address();
  process.stdout.write(`listening on http://127.0.0.1:${port}\n`);
});
