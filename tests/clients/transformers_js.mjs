// Runs an exported folder in Transformers.js (Node) and prints JSON: `embed FOLDER TEXT...` gives the
// last_hidden_state and the attention mask; `generate FOLDER IDS NEW` gives greedy tokens for prompts of one length
// (IDS: comma-separated ids, prompts separated by ';'); `generate-seq2seq FOLDER IDS MASK NEW` gives an
// encoder-decoder's greedy tokens for source ids and their attention mask (MASK: as IDS); `transcribe FOLDER FILE NEW`
// gives a speech encoder-decoder's greedy tokens for the features in FILE (JSON: {dims, data}).
import {
    AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoModelForSpeechSeq2Seq, AutoTokenizer, Tensor, env,
} from '@huggingface/transformers';
import { readFileSync } from 'node:fs';

env.allowRemoteModels = false;
env.localModelPath = '';
const [command, folder, ...rest] = process.argv.slice(2);
// $TJS_DTYPE: the dtype to load ('fp32', 'q8', ...) instead of the one config.json names
const options = process.env.TJS_DTYPE ? { dtype: process.env.TJS_DTYPE } : {};
if (command === 'embed') {
    const tokenizer = await AutoTokenizer.from_pretrained(folder);
    const model = await AutoModel.from_pretrained(folder, options);
    const inputs = await tokenizer(rest, { padding: true });
    const { last_hidden_state } = await model(inputs);
    console.log(JSON.stringify({
        input_ids: inputs.input_ids.tolist().map((row) => row.map(Number)),
        dims: last_hidden_state.dims,
        data: Array.from(last_hidden_state.data),
    }));
} else if (command === 'generate' || command === 'generate-seq2seq') {
    const seq2seq = command === 'generate-seq2seq';
    const rows = (text) => text.split(';').map((prompt) => prompt.split(',').map((id) => BigInt(id)));
    const prompts = rows(rest[0]);
    const [batch, length] = [prompts.length, prompts[0].length];
    const model = await (seq2seq ? AutoModelForSeq2SeqLM : AutoModelForCausalLM).from_pretrained(folder, options);
    const input_ids = new Tensor('int64', BigInt64Array.from(prompts.flat()), [batch, length]);
    const mask = seq2seq ? BigInt64Array.from(rows(rest[1]).flat()) : new BigInt64Array(batch * length).fill(1n);
    const attention_mask = new Tensor('int64', mask, [batch, length]);
    const max_new_tokens = Number(rest[seq2seq ? 2 : 1]);
    const tokens = await model.generate({ input_ids, attention_mask, max_new_tokens, do_sample: false });
    console.log(JSON.stringify({ tokens: tokens.tolist().map((row) => row.map(Number)) }));
} else if (command === 'transcribe') {
    const { dims, data } = JSON.parse(readFileSync(rest[0], 'utf8'));
    const model = await AutoModelForSpeechSeq2Seq.from_pretrained(folder, options);
    const inputs = new Tensor('float32', Float32Array.from(data), dims);
    const tokens = await model.generate({ inputs, max_new_tokens: Number(rest[1]), do_sample: false });
    console.log(JSON.stringify({ tokens: tokens.tolist().map((row) => row.map(Number)) }));
} else {
    throw new Error(`unknown command ${command}`);
}
