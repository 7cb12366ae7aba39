// Preloaded into the Portkey gateway (node --require) by tests/Benchmarks/run.sh.
// The gateway's CLI takes --port=N but no host, and @hono/node-server's serve() then listens on every
// interface; this makes any listen() without an explicit host bind 127.0.0.1 only.
'use strict';
const net = require('node:net');

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] !== 'string')) {
    args.splice(1, typeof args[1] === 'undefined' && args.length > 1 ? 1 : 0, '127.0.0.1');
  } else if (args[0] && typeof args[0] === 'object' && !args[0].host && !args[0].path) {
    args[0] = { ...args[0], host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};
