// A real NestJS microservice server, handlers registered as
// @MessagePattern('sum') and @EventPattern(EVENT) would register them.
// Prints "ready" once listening, then one JSON line per event received:
//   {"pattern": ..., "data": ...}
// Env: TRANSPORT (rmq, the default, nats, redis or tcp), SUM (the sum handler's pattern,
// 'sum' by default), QUEUE (the RabbitMQ queue, or
// the NATS queue group), EVENT; for rmq AMQP_URL and optionally EXCHANGE: a
// topic exchange to bind the queue to with routing key EVENT, as a NestJS
// service consuming another service's events would; for nats NATS_URL; for
// redis REDIS_URL; for tcp TCP_PORT (on 127.0.0.1).
'use strict';
require('reflect-metadata');
const { ServerNats, ServerRedis, ServerRMQ, ServerTCP } = require('@nestjs/microservices');
const { redisOptions } = require('./redis-options');

function createServer() {
  switch (process.env.TRANSPORT || 'rmq') {
    case 'rmq':
      return new ServerRMQ({
        urls: [process.env.AMQP_URL],
        queue: process.env.QUEUE,
        queueOptions: { durable: true },
        ...(process.env.EXCHANGE
          ? { exchange: process.env.EXCHANGE, exchangeType: 'topic', routingKey: process.env.EVENT }
          : {}),
      });
    case 'nats':
      return new ServerNats({ servers: [process.env.NATS_URL], queue: process.env.QUEUE });
    case 'redis':
      return new ServerRedis(redisOptions(process.env.REDIS_URL));
    case 'tcp':
      return new ServerTCP({ host: '127.0.0.1', port: Number(process.env.TCP_PORT) });
    default:
      throw new Error(`unknown TRANSPORT ${process.env.TRANSPORT}`);
  }
}

const server = createServer();
server.addHandler(process.env.SUM || 'sum', async (numbers) => numbers.reduce((a, b) => a + b, 0), false);
server.addHandler(
  process.env.EVENT,
  async (data) => {
    process.stdout.write(JSON.stringify({ pattern: process.env.EVENT, data }) + '\n');
  },
  true,
);
server.listen(async (err) => {
  if (err) {
    console.error(err);
    process.exit(2);
  }
  // NATS subscriptions reach the server with the next flush: "ready" only
  // once they have, or a request sent at once would find no responders.
  if (process.env.TRANSPORT === 'nats') {
    await server.unwrap().flush();
  }
  // Likewise Redis subscriptions: ioredis sends commands in order, so once a
  // PING on the subscriber connection is answered, they are in place.
  if (process.env.TRANSPORT === 'redis') {
    await server.subClient.ping();
  }
  process.stdout.write('ready\n');
});
// The test closes stdin when it is done; never outlive it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
setTimeout(() => process.exit(3), 60000).unref();
