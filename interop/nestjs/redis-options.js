// NestJS's Redis transport takes ioredis options, not a URL: REDIS_URL
// (redis://[user:password@]host:port) made into them.
'use strict';

function redisOptions(url) {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
  };
}

module.exports = { redisOptions };
