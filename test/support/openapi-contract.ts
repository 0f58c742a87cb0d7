import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import request from 'supertest';

interface OpenApiDocument {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>
  >;
}

/**
 * Validates real responses against the schemas the service documents at /docs-json, so the document cannot
 * drift from the behaviour.
 */
export class OpenApiContract {
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly validators = new Map<string, ValidateFunction>();

  private constructor(readonly document: OpenApiDocument) {
    addFormats(this.ajv);
  }

  static async load(url: string): Promise<OpenApiContract> {
    const response = await request(url).get('/docs-json').expect(200);
    return new OpenApiContract(response.body as OpenApiDocument);
  }

  /** Throws unless `response` matches the schema documented for (method, route template, its status). */
  check(method: string, route: string, response: request.Response): void {
    const key = `${method} ${route} ${response.status}`;
    let validate = this.validators.get(key);
    if (!validate) {
      const operation = this.document.paths[route]?.[method.toLowerCase()];
      if (!operation) throw new Error(`${method} ${route} is not documented`);
      const schema =
        operation.responses[String(response.status)]?.content?.['application/json']?.schema;
      if (!schema) throw new Error(`${key}: status not documented`);
      validate = this.ajv.compile(schema);
      this.validators.set(key, validate);
    }
    if (!validate(response.body)) {
      throw new Error(`${key}: ${this.ajv.errorsText(validate.errors)} in ${response.text}`);
    }
  }
}
