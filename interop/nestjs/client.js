// A real NestJS ClientProxy, as a NestJS gateway would create it. Sends one
// request (or, with EMIT=1, emits one event), prints the outcome as one
// JSON line: {"response": ...} or {"err": ...} ({"emitted": true}).
// Env: TRANSPORT (rmq, the default, nats, redis or tcp); for rmq AMQP_URL
// and QUEUE, for nats NATS_URL, for redis REDIS_URL, for tcp TCP_PORT (on
// 127.0.0.1); PATTERN (a
// string, or a JSON object for an object pattern such as {"cmd":"sum"}),
// DATA (JSON), and optionally HEADERS (a
// JSON object of headers, e.g. the caller a gateway verified), sent the
// NestJS way: an RmqRecord or a NatsRecord (NestJS's Redis and TCP
// envelopes have no headers). On RabbitMQ every request is an RmqRecord
// carrying its login as `userId`.
'use strict';
require('reflect-metadata');
const { redisOptions } = require('./redis-options');
const {
  ClientProxyFactory,
  NatsRecordBuilder,
  RmqRecordBuilder,
  Transport,
} = require('@nestjs/microservices');
const { firstValueFrom, timeout } = require('rxjs');

const transport = process.env.TRANSPORT || 'rmq';

function createClient() {
  switch (transport) {
    case 'rmq':
      return ClientProxyFactory.create({
        transport: Transport.RMQ,
        options: {
          urls: [process.env.AMQP_URL],
          queue: process.env.QUEUE,
          queueOptions: { durable: true },
          // The queue is its server's: a client account may not declare it
          // (docs/messaging.md, "Queue declaration").
          noAssert: true,
        },
      });
    case 'nats':
      return ClientProxyFactory.create({
        transport: Transport.NATS,
        options: { servers: [process.env.NATS_URL] },
      });
    case 'redis':
      return ClientProxyFactory.create({
        transport: Transport.REDIS,
        options: redisOptions(process.env.REDIS_URL),
      });
    case 'tcp':
      return ClientProxyFactory.create({
        transport: Transport.TCP,
        options: { host: '127.0.0.1', port: Number(process.env.TCP_PORT) },
      });
    default:
      throw new Error(`unknown TRANSPORT ${transport}`);
  }
}

// The AMQP `user_id` of a request: the client's own login, which RabbitMQ
// checks. Our servers run requests only from the accounts allowed to call
// (the gateway's, docs/security.md), so a NestJS gateway sets it as well.
function rmqRecord(data, headers) {
  const userId = decodeURIComponent(new URL(process.env.AMQP_URL).username || 'guest');
  return new RmqRecordBuilder(data).setOptions({ userId, ...(headers && { headers }) }).build();
}

function withHeaders(data, headers) {
  if (transport === 'nats') {
    const natsHeaders = require('nats').headers();
    for (const [name, value] of Object.entries(headers)) {
      natsHeaders.set(name, String(value));
    }
    return new NatsRecordBuilder(data).setHeaders(natsHeaders).build();
  }
  if (transport !== 'rmq') {
    throw new Error(`NestJS's ${transport} transport carries no headers`);
  }
  return rmqRecord(data, headers);
}

async function main() {
  const client = createClient();
  await client.connect();
  let outcome;
  try {
    let data = JSON.parse(process.env.DATA);
    if (process.env.HEADERS) {
      data = withHeaders(data, JSON.parse(process.env.HEADERS));
    } else if (transport === 'rmq') {
      data = rmqRecord(data);
    }
    const pattern = process.env.PATTERN.startsWith('{')
      ? JSON.parse(process.env.PATTERN)
      : process.env.PATTERN;
    if (process.env.EMIT) {
      await firstValueFrom(client.emit(pattern, data).pipe(timeout(10000)), {
        defaultValue: undefined,
      });
      outcome = { emitted: true };
    } else {
      const response = await firstValueFrom(client.send(pattern, data).pipe(timeout(10000)));
      outcome = { response };
    }
  } catch (err) {
    outcome = { err: err instanceof Error ? { name: err.name, message: err.message } : err };
  }
  process.stdout.write(JSON.stringify(outcome) + '\n');
  await client.close();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
