// A real NestJS RMQ microservice server (ServerRMQ), handlers registered as
// @MessagePattern('sum') and @EventPattern(EVENT) would register them.
// Prints "ready" once consuming, then one JSON line per event received:
//   {"pattern": ..., "data": ...}
// Env: AMQP_URL, QUEUE, EVENT, and optionally EXCHANGE: a topic exchange to
// bind the queue to with routing key EVENT, as a NestJS service consuming
// another service's events would.
'use strict';
require('reflect-metadata');
const { ServerRMQ } = require('@nestjs/microservices');

const server = new ServerRMQ({
  urls: [process.env.AMQP_URL],
  queue: process.env.QUEUE,
  queueOptions: { durable: true },
  ...(process.env.EXCHANGE
    ? { exchange: process.env.EXCHANGE, exchangeType: 'topic', routingKey: process.env.EVENT }
    : {}),
});
server.addHandler('sum', async (numbers) => numbers.reduce((a, b) => a + b, 0), false);
server.addHandler(
  process.env.EVENT,
  async (data) => {
    process.stdout.write(JSON.stringify({ pattern: process.env.EVENT, data }) + '\n');
  },
  true,
);
server.listen((err) => {
  if (err) {
    console.error(err);
    process.exit(2);
  }
  process.stdout.write('ready\n');
});
// The test closes stdin when it is done; never outlive it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
setTimeout(() => process.exit(3), 60000).unref();
