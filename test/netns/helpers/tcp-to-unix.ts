/**
 * Forwards TCP connections to 127.0.0.1:PORT (in the namespace it runs in) to a Unix socket
 * path. A path socket is a file, reachable from every network namespace: this is how speakers in
 * node namespaces reach the fake API server, which listens on loopback in the test's namespace.
 * Usage: tcp-to-unix.ts PORT SOCKET_PATH. Prints "listening" once ready.
 */
import { connect, createServer } from 'node:net';

const [portText, path] = process.argv.slice(2);
const server = createServer((client) => {
  const upstream = connect(path!);
  client.pipe(upstream).pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
});
server.listen(Number(portText), '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
