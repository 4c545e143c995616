// Runs the official openai client (pinned in package-lock.json) against a
// running `xraygpt serve`. cmd/xraygpt's TestServe starts the server, runs
// this script and checks its output against the CLI's own answers.
//
//   XRAYGPT_URL=http://127.0.0.1:PORT/v1 XRAYGPT_KEY=KEY IMAGE=x.png FOLLOWUP="..." node check.mjs
//
// It prints one JSON object: the answers it got and the errors it saw.
import fs from "node:fs";
import OpenAI from "openai";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const baseURL = env("XRAYGPT_URL");
const apiKey = env("XRAYGPT_KEY");
const image = "data:image/png;base64," + fs.readFileSync(env("IMAGE")).toString("base64");
const question = "Describe the given chest x-ray image in detail.";
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });

const models = await client.models.list();
const model = models.data[0].id;
const first = [{ role: "user", content: [
  { type: "text", text: question },
  { type: "image_url", image_url: { url: image } },
] }];

const out = { model, vision: models.data[0].capabilities };
const plain = await client.chat.completions.create({ model, messages: first, temperature: 0 });
out.plain = plain.choices[0].message.content;
out.finish = plain.choices[0].finish_reason;
out.usage = plain.usage;

const stream = await client.chat.completions.create({ model, messages: first, temperature: 0, stream: true });
out.streamed = "";
out.chunks = 0;
for await (const chunk of stream) {
  out.chunks++;
  out.streamed += chunk.choices[0]?.delta?.content ?? "";
}

const follow = await client.chat.completions.create({ model, temperature: 0, messages: [
  ...first,
  { role: "assistant", content: out.plain },
  { role: "user", content: env("FOLLOWUP") },
] });
out.followup = follow.choices[0].message.content;

async function errorOf(c, params) {
  try {
    await c.chat.completions.create(params);
    return "no error";
  } catch (err) {
    return `${err.constructor.name} ${err.status}`;
  }
}
const wrongKey = new OpenAI({ baseURL, apiKey: apiKey + "x", maxRetries: 0 });
out.wrongKey = await errorOf(wrongKey, { model, messages: first });
out.badImage = await errorOf(client, { model, messages: [{ role: "user", content: [
  { type: "text", text: question },
  { type: "image_url", image_url: { url: "data:image/png;base64," + Buffer.from("not a picture").toString("base64") } },
] }] });
out.remoteImage = await errorOf(client, { model, messages: [{ role: "user", content: [
  { type: "text", text: question },
  { type: "image_url", image_url: { url: "https://example.com/chest.png" } },
] }] });
console.log(JSON.stringify(out));
