// What both conformance fixtures (conformance.mjs with the v1 SDK,
// conformance26.mjs with the v2 server package) serve alike: the media, the
// JSON Schema 2020-12 tool schema, the content tools, the fixed resources.
// `none` is each SDK's empty input schema; ResourceTemplate its class.

// 1x1 PNG and a WAV file with one silent sample: the smallest valid media.
export const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
export const WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const text = (t) => ({ content: [{ type: 'text', text: t }] });

// SEP-1613/SEP-2106: a tool whose input schema uses JSON Schema 2020-12
// keywords; tools/list must show it exactly as written.
export const SCHEMA_2020_12_TOOL = 'json_schema_2020_12_tool';
export const SCHEMA_2020_12 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: { address: { $anchor: 'addressDef', type: 'object',
    properties: { street: { type: 'string' }, city: { type: 'string' } } } },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false,
};

export function registerContentTools(server, none) {
  server.registerTool('test_simple_text', { description: 'Returns one text block', ...none },
    async () => text('This is a simple text response for testing.'));
  server.registerTool('test_image_content', { description: 'Returns a PNG image', ...none },
    async () => ({ content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] }));
  server.registerTool('test_audio_content', { description: 'Returns a WAV clip', ...none },
    async () => ({ content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] }));
  server.registerTool('test_embedded_resource', { description: 'Returns an embedded text resource', ...none },
    async () => ({ content: [{ type: 'resource', resource: {
      uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }] }));
  server.registerTool('test_multiple_content_types', { description: 'Returns text, an image and a resource', ...none },
    async () => ({ content: [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: PNG, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json',
        text: JSON.stringify({ test: 'data', value: 123 }) } },
    ] }));
  // A thrown error becomes a result with isError: true (the SDK's McpServer does that).
  server.registerTool('test_error_handling', { description: 'Always fails', ...none }, async () => {
    throw new Error('This tool intentionally returns an error for testing');
  });
}

// test://static-text, test://static-binary and the test://template/{id}/data template.
export function registerFixedResources(server, ResourceTemplate) {
  const fixed = (name, uri, description, mimeType, body) => server.registerResource(name, uri,
    { title: name, description, mimeType }, async () => ({ contents: [{ uri, mimeType, ...body() }] }));
  fixed('static-text', 'test://static-text', 'A fixed text resource', 'text/plain',
    () => ({ text: 'This is the content of the static text resource.' }));
  fixed('static-binary', 'test://static-binary', 'A fixed PNG image', 'image/png', () => ({ blob: PNG }));
  server.registerResource('template', new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { title: 'template', description: 'JSON data for any id', mimeType: 'application/json' },
    async (uri, { id }) => ({ contents: [{ uri: uri.href, mimeType: 'application/json',
      text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }] }));
  return fixed;
}

// The four prompts. sdk: { z, completable, args } with args(shape) the
// argsSchema each SDK takes for a shape of fields (v1: the shape, v2: z.object).
export function registerFixturePrompts(server, { z, completable, args }) {
  const user = (content) => ({ role: 'user', content });
  const words = ['hello', 'help', 'test', 'testing', 'world'];
  const complete = (value) => words.filter((w) => w.startsWith(value ?? ''));
  server.registerPrompt('test_simple_prompt', { description: 'A prompt without arguments' },
    async () => ({ messages: [user({ type: 'text', text: 'This is a simple prompt for testing.' })] }));
  server.registerPrompt('test_prompt_with_arguments', { description: 'A prompt with two required arguments',
    argsSchema: args({ arg1: completable(z.string().describe('First test argument'), complete),
      arg2: completable(z.string().describe('Second test argument'), complete) }) },
  async ({ arg1, arg2 }) => ({ messages: [user({ type: 'text',
    text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` })] }));
  server.registerPrompt('test_prompt_with_embedded_resource', { description: 'A prompt embedding the named resource',
    argsSchema: args({ resourceUri: z.string().describe('URI of the resource to embed') }) },
  async ({ resourceUri }) => ({ messages: [
    user({ type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain',
      text: 'Embedded resource content for testing.' } }),
    user({ type: 'text', text: 'Please process the embedded resource above.' }),
  ] }));
  server.registerPrompt('test_prompt_with_image', { description: 'A prompt with an image' },
    async () => ({ messages: [
      user({ type: 'image', data: PNG, mimeType: 'image/png' }),
      user({ type: 'text', text: 'Please analyze the image above.' }),
    ] }));
}
