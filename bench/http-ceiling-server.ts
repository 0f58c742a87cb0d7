/** The HTTP ceiling: a bare Fastify route returning a fixed JSON body, in the same Node as the service. */
import Fastify from 'fastify';

const port = Number(process.argv[2]);
const app = Fastify();
const body = { statusCode: 409, message: '티켓이 모두 소진되었습니다.' };
app.post('/ceiling', async (_request, reply) => reply.status(409).send(body));
app.listen({ port, host: '127.0.0.1' }).then(
  () => process.stdout.write('ready\n'),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
