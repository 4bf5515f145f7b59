// s3rver.js: starts @20minutes/s3rver 5.x (which checks SigV4) for the
// tests and benchmarks.  It has no CLI of its own.
//
//   NODE_PATH=/opt/cairn-test/s3rver/node_modules \
//   S3RVER_ACCESS_KEY=… S3RVER_SECRET_KEY=… node --openssl-legacy-provider s3rver.js \
//       --port 0 --directory DIR [--bucket NAME]… [--cert PEM --key PEM]
//       [--service-endpoint localhost]
//
// The key pair comes from the environment (never argv) and is added to
// s3rver's account beside its built-in S3RVER/S3RVER.  Port 0 picks an
// ephemeral port.  --openssl-legacy-provider: s3rver makes its
// continuation tokens with DES, which Node 17+ (OpenSSL 3) refuses without
// it (every truncated listing would answer 500).  Virtual-hosted requests reach it as
// BUCKET.s3.<service-endpoint> (default localhost, which curl resolves to
// loopback by itself).  Prints "READY <port>" on stdout once it listens on
// 127.0.0.1; exits on SIGTERM/SIGINT.
'use strict';
const fs = require('fs');
const S3rver = require('@20minutes/s3rver');
const { DUMMY_ACCOUNT } = require('@20minutes/s3rver/lib/models/account');

const args = process.argv.slice(2);
const opt = { port: 0, buckets: [], serviceEndpoint: 'localhost' };
for (let i = 0; i < args.length; i += 2) {
  const k = args[i], v = args[i + 1];
  if (v === undefined) { console.error(`s3rver.js: ${k} needs a value`); process.exit(2); }
  if (k === '--port') opt.port = Number(v);
  else if (k === '--directory') opt.directory = v;
  else if (k === '--bucket') opt.buckets.push(v);
  else if (k === '--cert') opt.cert = v;
  else if (k === '--key') opt.key = v;
  else if (k === '--service-endpoint') opt.serviceEndpoint = v;
  else { console.error(`s3rver.js: unknown option ${k}`); process.exit(2); }
}
if (!opt.directory) { console.error('s3rver.js: --directory is required'); process.exit(2); }
const ak = process.env.S3RVER_ACCESS_KEY, sk = process.env.S3RVER_SECRET_KEY;
if (ak && sk) DUMMY_ACCOUNT.createKeyPair(ak, sk);

const server = new S3rver({
  address: '127.0.0.1',
  port: opt.port,
  directory: opt.directory,
  silent: true,
  vhostBuckets: true,
  serviceEndpoint: opt.serviceEndpoint,
  configureBuckets: opt.buckets.map((name) => ({ name })),
  ...(opt.cert ? { cert: fs.readFileSync(opt.cert), key: fs.readFileSync(opt.key) } : {}),
});
server.run().then((addr) => {
  process.stdout.write(`READY ${addr.port}\n`);
}).catch((err) => {
  console.error(`s3rver.js: ${err.message}`);
  process.exit(1);
});
const stop = () => server.close().then(() => process.exit(0), () => process.exit(1));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
