import { Agent, request as httpRequest } from 'node:http';

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
