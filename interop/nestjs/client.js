// A real NestJS ClientProxy (Transport.RMQ), as a NestJS gateway would
// create it. Sends one request, prints the outcome as one JSON line:
//   {"response": ...} or {"err": ...}
// Env: AMQP_URL, QUEUE, PATTERN, DATA (JSON).
'use strict';
require('reflect-metadata');
const { ClientProxyFactory, Transport } = require('@nestjs/microservices');
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
    const data = JSON.parse(process.env.DATA);
    const response = await firstValueFrom(
      client.send(process.env.PATTERN, data).pipe(timeout(10000)),
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
