import { Agent, request as httpRequest } from 'node:http';
import { Socket, connect } from 'node:net';

export interface JsonAnswer {
  status: number;
  /** The `Connection` header of the answer. */
  connection: string | undefined;
  body: unknown;
}

/**
 * POST a JSON body with node:http: on `agent`'s connections, or (`false`) on a connection of its own that
 * closes after the answer. Rejects with the socket's error (ECONNRESET, ECONNREFUSED, …).
 */
export function postJson(url: string, body: object, agent: Agent | false): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const sent = httpRequest(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          ...(agent === false ? { connection: 'close' } : {}),
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('error', reject);
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            connection: response.headers.connection,
            body: JSON.parse(text) as unknown,
          }),
        );
      },
    );
    sent.on('error', reject);
    sent.end(payload);
  });
}

/** A JSON POST as `sendOnOpenConnections` writes it. */
export interface JsonPost {
  path: string;
  body: object;
  headers?: Record<string, string>;
}

/**
 * One connection per request to `url`'s server, all open before anything is sent; the returned `send`
 * writes every request in one go, in order (so they reach the server together, in that order), each with
 * `Connection: close`, and resolves with the answers in the same order. Rejects with a socket's error.
 */
export async function sendOnOpenConnections(
  url: string,
  posts: JsonPost[],
): Promise<() => Promise<JsonAnswer[]>> {
  const { hostname, port } = new URL(url);
  const sockets = await Promise.all(
    posts.map(
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect({ host: hostname, port: Number(port) }, () => resolve(socket));
          socket.once('error', reject);
        }),
    ),
  );
  return () =>
    Promise.all(
      posts.map(({ path, body, headers = {} }, i) => {
        const socket = sockets[i];
        const answer = new Promise<JsonAnswer>((resolve, reject) => {
          const chunks: Buffer[] = [];
          socket.on('data', (chunk: Buffer) => chunks.push(chunk));
          socket.once('error', reject);
          socket.once('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const [head, payload] = text.split('\r\n\r\n', 2);
            resolve({
              status: Number(head.slice(9, 12)),
              connection: /\r\nconnection: *([^\r]*)/i.exec(head)?.[1],
              body: JSON.parse(payload) as unknown,
            });
          });
        });
        const payload = JSON.stringify(body);
        const lines = Object.entries({
          host: `${hostname}:${port}`,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(payload)),
          connection: 'close',
          ...headers,
        }).map(([name, value]) => `${name}: ${value}\r\n`);
        socket.write(`POST ${path} HTTP/1.1\r\n${lines.join('')}\r\n${payload}`);
        return answer;
      }),
    );
}
