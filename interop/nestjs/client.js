// A real NestJS ClientProxy (Transport.RMQ), as a NestJS gateway would
// create it. Sends one request, prints the outcome as one JSON line:
//   {"response": ...} or {"err": ...}
// Env: AMQP_URL, QUEUE, PATTERN (a string, or a JSON object for an object
// pattern such as {"cmd":"sum"}), DATA (JSON), and optionally HEADERS (a
// JSON object of AMQP headers, e.g. the caller a gateway verified), sent the
// NestJS way: an RmqRecord built with RmqRecordBuilder.
'use strict';
require('reflect-metadata');
const { ClientProxyFactory, RmqRecordBuilder, Transport } = require('@nestjs/microservices');
const { firstValueFrom, timeout } = require('rxjs');

async function main() {
  const client = ClientProxyFactory.create({
    transport: Transport.RMQ,
    options: {
      urls: [process.env.AMQP_URL],
      queue: process.env.QUEUE,
      queueOptions: { durable: true },
    },
  });
  await client.connect();
  let outcome;
  try {
    let data = JSON.parse(process.env.DATA);
    if (process.env.HEADERS) {
      data = new RmqRecordBuilder(data)
        .setOptions({ headers: JSON.parse(process.env.HEADERS) })
        .build();
    }
    const pattern = process.env.PATTERN.startsWith('{')
      ? JSON.parse(process.env.PATTERN)
      : process.env.PATTERN;
    const response = await firstValueFrom(
      client.send(pattern, data).pipe(timeout(10000)),
    );
    outcome = { response };
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
