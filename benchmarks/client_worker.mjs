// Transformers.js as a client of an exported folder, timed in its own process (run by client_speed.py).
//   node client_worker.mjs FOLDER REQUEST.json
// REQUEST as client_worker.py's. Prints one JSON line: {load_s, median_ms, tokens, peak_mib}. Loaded from a folder whose
// node_modules has @huggingface/transformers (client_speed.py copies it there).
import { AutoModel, AutoModelForCausalLM, Tensor, env } from '@huggingface/transformers';
import { readFileSync } from 'node:fs';

env.allowRemoteModels = false;
env.localModelPath = '';
const [folder, requestFile] = process.argv.slice(2);
const request = JSON.parse(readFileSync(requestFile, 'utf8'));
const prompt = request.input_ids;
const [batch, length] = [prompt.length, prompt[0].length];
const input_ids = new Tensor('int64', BigInt64Array.from(prompt.flat().map(BigInt)), [batch, length]);
const attention_mask = new Tensor('int64', new BigInt64Array(batch * length).fill(1n), [batch, length]);
let start = performance.now();
const generating = request.task === 'generate';
const model = await (generating ? AutoModelForCausalLM : AutoModel).from_pretrained(folder);
const load_s = (performance.now() - start) / 1000;
const n = request.new_tokens;
const run = generating
    ? async () => (await model.generate({ input_ids, attention_mask, max_new_tokens: n, min_new_tokens: n, do_sample: false })).tolist().map((row) => row.map(Number))
    : async () => model({ input_ids, attention_mask, token_type_ids: new Tensor('int64', new BigInt64Array(batch * length), [batch, length]) });
let result = await run();
const times = [];
for (let i = 0; i < request.runs; i++) {
    start = performance.now();
    result = await run();
    times.push(performance.now() - start);
}
times.sort((a, b) => a - b);
const middle = times.length >> 1;
const median_ms = times.length % 2 ? times[middle] : (times[middle - 1] + times[middle]) / 2;
const peak_mib = process.resourceUsage().maxRSS / 1024; // this process's own peak, KiB
console.log(JSON.stringify({ load_s, median_ms, tokens: generating ? result : null, peak_mib }));
