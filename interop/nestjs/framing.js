// NestJS's own TCP framing (helpers/json-socket.js), for the framing
// interoperability test (shared/messaging/tests/it/tcp_framing.rs):
//   node framing.js frame < one JSON value per line > NestJS-framed bytes
//   node framing.js parse < framed bytes > one JSON value per line, as
//     NestJS's JsonSocket decodes them (fed three bytes at a time, so its
//     decoder meets characters split across reads)
'use strict';
const { EventEmitter } = require('events');
const { JsonSocket } = require('@nestjs/microservices/helpers/json-socket');

// Just enough of a net.Socket for JsonSocket.
class FakeSocket extends EventEmitter {
  write(data, encoding, callback) {
    process.stdout.write(data);
    callback && callback();
    return true;
  }
  pause() {}
  resume() {}
  end() {}
  destroy() {}
}

const chunks = [];
process.stdin.on('data', (chunk) => chunks.push(chunk));
process.stdin.on('end', () => {
  const input = Buffer.concat(chunks);
  const socket = new FakeSocket();
  const json = new JsonSocket(socket);
  if (process.argv[2] === 'frame') {
    for (const line of input.toString('utf8').split('\n').filter(Boolean)) {
      json.sendMessage(JSON.parse(line));
    }
    return;
  }
  socket.on('message', (message) => console.log(JSON.stringify(message)));
  socket.on('error', (error) => {
    console.error(error);
    process.exit(2);
  });
  for (let i = 0; i < input.length; i += 3) {
    socket.emit('data', input.subarray(i, i + 3));
  }
});
